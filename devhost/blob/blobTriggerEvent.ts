import type { BlobClient } from '@azure/storage-blob';

import type { TriggerEvent } from '../core/invoker';
import type { RpcTypedData } from '../core/rpcTypes';
import type { BlobTriggerProperties } from '../storage/restBlob';
import type { BlobPathPattern } from './blobPathPattern';

/** `BlobProperties` as the host serializes it into binding data (PascalCase; the Node library camel-cases it). */
function propertiesMetadata(properties: BlobTriggerProperties): Record<string, unknown> {
  return {
    BlobType: properties.blobType,
    ContentType: properties.contentType,
    ContentLength: properties.contentLength,
    ContentEncoding: properties.contentEncoding,
    ContentMD5: properties.contentMD5 ? Buffer.from(properties.contentMD5).toString('base64') : undefined,
    CacheControl: properties.cacheControl,
    ETag: properties.etag,
    LastModified: properties.lastModified?.toISOString(),
    CreatedOn: properties.createdOn?.toISOString(),
    AccessTier: properties.accessTier,
  };
}

/**
 * Whether a binding asked for deferred (SDK-type) binding: `sdkBinding: true` in the Node library sets
 * `properties.supportsDeferredBinding` to `'true'` in the function metadata.
 */
export function supportsDeferredBinding(config: Record<string, unknown>): boolean {
  const properties = config['properties'];
  if (properties === null || typeof properties !== 'object') return false;
  const flag = (properties as Record<string, unknown>)['supportsDeferredBinding'];
  return flag === true || flag === 'true';
}

/** The connection setting a binding names (`connection`), `AzureWebJobsStorage` when it names none. */
export function connectionSettingName(config: Record<string, unknown>): string {
  const connection = config['connection'];
  return typeof connection === 'string' && connection.trim() !== '' ? connection : 'AzureWebJobsStorage';
}

/**
 * The blob extension's model binding data for a deferred blob binding (source `AzureStorageBlobs`): which blob, and
 * the connection setting to reach it with. The worker turns it into a client; the content is never read.
 */
export function blobModelBindingData(connection: string, containerName: string, blobName: string): RpcTypedData {
  return {
    modelBindingData: {
      version: '1.0',
      source: 'AzureStorageBlobs',
      contentType: 'application/json',
      content: Buffer.from(
        JSON.stringify({ Connection: connection, ContainerName: containerName, BlobName: blobName }),
        'utf8',
      ),
    },
  };
}

/**
 * The invocation of a blob function for one blob version, the same whether the scanner queued it or someone ran the
 * function by hand: the content (bytes, or text with `dataType: string`) — or, for a deferred binding, a reference
 * to the blob and no download at all, as the host does — and `blobTrigger`, `uri`, `properties`, `metadata` and the
 * path parameters as trigger metadata.
 */
export async function blobTriggerEvent(options: {
  blob: BlobClient;
  containerName: string;
  blobName: string;
  pattern: BlobPathPattern;
  dataType: unknown;
  reason?: string;
  details?: (properties: BlobTriggerProperties) => string;
  /** Only this version: the download fails if the blob changed since it was queued. */
  etag?: string;
  /** A deferred (SDK-type) binding: send a reference through this connection setting instead of the content. */
  deferredConnection?: string;
  /** The blob's properties when the caller just fetched them (the host fetches them once per invocation). */
  properties?: BlobTriggerProperties;
  /** Reads the content of the version `etag` names (the trigger's lean client); the SDK's `blob` otherwise. */
  download?: (etag: string | undefined) => Promise<Buffer>;
}): Promise<{ event: TriggerEvent; properties: BlobTriggerProperties }> {
  const properties = options.properties ?? (await options.blob.getProperties());
  const etag = options.etag ?? properties.etag;
  let triggerData: RpcTypedData;
  if (options.deferredConnection !== undefined) {
    triggerData = blobModelBindingData(options.deferredConnection, options.containerName, options.blobName);
  } else {
    const content = options.download
      ? await options.download(etag)
      : // The length is known: without it the SDK asks for the properties again before downloading.
        await options.blob.downloadToBuffer(
          0,
          properties.contentLength || undefined,
          etag ? { conditions: { ifMatch: etag } } : {},
        );
    triggerData = options.dataType === 'string' ? { string: content.toString('utf8') } : { bytes: content };
  }
  const blobPath = `${options.containerName}/${options.blobName}`;
  const params = options.pattern.match(options.blobName) ?? {};
  const blobType = properties.blobType ?? 'BlockBlob';
  return {
    properties,
    event: {
      reason: options.reason ?? `New blob detected(${blobType}): ${blobPath}`,
      triggerData,
      triggerMetadata: {
        BlobTrigger: blobPath,
        Uri: options.blob.url,
        Properties: propertiesMetadata(properties),
        Metadata: properties.metadata ?? {},
        ...params,
      },
      ...(options.details ? { details: options.details(properties) } : {}),
    },
  };
}
