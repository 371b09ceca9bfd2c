import type { ContainerClient } from '@azure/storage-blob';

import { asText } from '../storage/entityValues';
import type { UploadedBlob } from './thumbnailJob';

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/**
 * The blob version a blob trigger fired for, from its trigger metadata (the Node library camel-cases the host's
 * `BlobProperties`); asks storage only when the host sent no ETag or length.
 */
export async function uploadedBlobOf(
  triggerMetadata: Record<string, unknown> | undefined,
  uploads: ContainerClient,
): Promise<UploadedBlob> {
  const metadata = record(triggerMetadata);
  const name = asText(metadata['name']);
  const properties = record(metadata['properties']);
  let etag = properties['eTag'] ?? properties['etag'];
  let contentLength = properties['contentLength'];
  if (typeof etag !== 'string' || typeof contentLength !== 'number') {
    const live = await uploads.getBlobClient(name).getProperties();
    etag = live.etag ?? '';
    contentLength = live.contentLength ?? 0;
  }
  const userMetadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(record(metadata['metadata']))) {
    if (typeof value === 'string') userMetadata[key.toLowerCase()] = value;
  }
  return {
    container: uploads.containerName,
    name,
    etag: etag as string,
    contentLength: contentLength as number,
    metadata: userMetadata,
  };
}
