import type { BlobClient, BlobGetPropertiesResponse } from '@azure/storage-blob';

import type { TriggerEvent } from '../core/invoker';
import type { BlobPathPattern } from './blobPathPattern';

/** `BlobProperties` as the host serializes it into binding data (PascalCase; the Node library camel-cases it). */
function propertiesMetadata(properties: BlobGetPropertiesResponse): Record<string, unknown> {
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
 * The invocation of a blob function for one blob version, the same whether the scanner queued it or someone ran the
 * function by hand: the content (bytes, or text with `dataType: string`), and `blobTrigger`, `uri`, `properties`,
 * `metadata` and the path parameters as trigger metadata.
 */
export async function blobTriggerEvent(options: {
  blob: BlobClient;
  containerName: string;
  blobName: string;
  pattern: BlobPathPattern;
  dataType: unknown;
  reason?: string;
  details?: (properties: BlobGetPropertiesResponse) => string;
  /** Only this version: the download fails if the blob changed since it was queued. */
  etag?: string;
}): Promise<{ event: TriggerEvent; properties: BlobGetPropertiesResponse }> {
  const properties = await options.blob.getProperties();
  const etag = options.etag ?? properties.etag;
  const content = await options.blob.downloadToBuffer(
    undefined,
    undefined,
    etag ? { conditions: { ifMatch: etag } } : {},
  );
  const blobPath = `${options.containerName}/${options.blobName}`;
  const params = options.pattern.match(options.blobName) ?? {};
  const blobType = properties.blobType ?? 'BlockBlob';
  return {
    properties,
    event: {
      reason: options.reason ?? `New blob detected(${blobType}): ${blobPath}`,
      triggerData: options.dataType === 'string' ? { string: content.toString('utf8') } : { bytes: content },
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
