import { randomUUID } from 'node:crypto';

/** What a local event source knows of a blob version when it raises `Microsoft.Storage.BlobCreated`. */
export interface CreatedBlob {
  accountName: string;
  container: string;
  blobName: string;
  /** The blob URL (the data account's endpoint, as the app reaches it). */
  url: string;
  /** Bare or quoted; events carry it bare. */
  etag: string;
  blobType: 'BlockBlob' | 'PageBlob' | 'AppendBlob';
  contentType?: string | undefined;
  contentLength?: number | undefined;
  /** The storage operation that committed the blob: PutBlob, PutBlockList, CopyBlob. */
  api: string;
}

/** A local stand-in for the subscription's scope (no real subscription id exists locally). */
const LOCAL_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';

/**
 * `Microsoft.Storage.BlobCreated` in the Event Grid schema, shaped as Event Grid delivers it for a storage account
 * system topic (topic, subject `/blobServices/default/containers/{c}/blobs/{name}`, data with url, eTag, blobType).
 */
export function blobCreatedEvent(blob: CreatedBlob, now = new Date()): Record<string, unknown> {
  const etag = blob.etag.replace(/"/g, '');
  return {
    topic: `/subscriptions/${LOCAL_SUBSCRIPTION}/resourceGroups/devhost/providers/Microsoft.Storage/storageAccounts/${blob.accountName}`,
    subject: `/blobServices/default/containers/${blob.container}/blobs/${blob.blobName}`,
    eventType: 'Microsoft.Storage.BlobCreated',
    id: randomUUID(),
    eventTime: now.toISOString(),
    data: {
      api: blob.api,
      requestId: randomUUID(),
      eTag: etag,
      contentType: blob.contentType ?? 'application/octet-stream',
      contentLength: blob.contentLength ?? 0,
      blobType: blob.blobType,
      url: blob.url,
      sequencer: `${Date.now().toString(16).padStart(32, '0')}`,
      storageDiagnostics: { batchId: randomUUID() },
    },
    dataVersion: '',
    metadataVersion: '1',
  };
}

export function blobTypeOf(value: string | undefined): CreatedBlob['blobType'] {
  return value === 'PageBlob' || value === 'AppendBlob' ? value : 'BlockBlob';
}
