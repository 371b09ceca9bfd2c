import type http from 'node:http';

import type { BlobGetPropertiesResponse } from '@azure/storage-blob';

import type { StorageRestClient } from './restClient';

/** What the blob trigger reads of a blob's properties: the binding data the host gives the function. */
export type BlobTriggerProperties = Pick<
  BlobGetPropertiesResponse,
  | 'blobType'
  | 'contentType'
  | 'contentLength'
  | 'contentEncoding'
  | 'contentMD5'
  | 'cacheControl'
  | 'etag'
  | 'lastModified'
  | 'createdOn'
  | 'accessTier'
  | 'metadata'
>;

const METADATA_PREFIX = 'x-ms-meta-';

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function dateOf(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The properties of a Get Blob Properties response, shaped as the SDK shapes them (metadata keys in lower case). */
export function blobPropertiesFromHeaders(headers: http.IncomingHttpHeaders): BlobTriggerProperties {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(METADATA_PREFIX) && value !== undefined) {
      metadata[name.slice(METADATA_PREFIX.length)] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  const md5 = header(headers, 'content-md5');
  const length = header(headers, 'content-length');
  const properties: BlobTriggerProperties = { metadata };
  const blobType = header(headers, 'x-ms-blob-type');
  if (blobType === 'BlockBlob' || blobType === 'PageBlob' || blobType === 'AppendBlob') properties.blobType = blobType;
  const contentType = header(headers, 'content-type');
  if (contentType !== undefined) properties.contentType = contentType;
  if (length !== undefined) properties.contentLength = Number(length);
  const contentEncoding = header(headers, 'content-encoding');
  if (contentEncoding !== undefined) properties.contentEncoding = contentEncoding;
  if (md5) properties.contentMD5 = Buffer.from(md5, 'base64');
  const cacheControl = header(headers, 'cache-control');
  if (cacheControl !== undefined) properties.cacheControl = cacheControl;
  const etag = header(headers, 'etag');
  if (etag !== undefined) properties.etag = etag;
  const lastModified = dateOf(header(headers, 'last-modified'));
  if (lastModified) properties.lastModified = lastModified;
  const createdOn = dateOf(header(headers, 'x-ms-creation-time'));
  if (createdOn) properties.createdOn = createdOn;
  const accessTier = header(headers, 'x-ms-access-tier');
  if (accessTier !== undefined) properties.accessTier = accessTier;
  return properties;
}

/** The blob's path below the service endpoint, encoded as the SDK encodes it (each `/`-separated part). */
export function blobPath(container: string, blobName: string): string {
  return `/${encodeURIComponent(container)}/${blobName.split('/').map(encodeURIComponent).join('/')}`;
}

/** Get Blob Properties (`HEAD`): a missing blob throws with `statusCode` 404. */
export async function readBlobProperties(
  client: StorageRestClient,
  container: string,
  blobName: string,
): Promise<BlobTriggerProperties> {
  const response = await client.send({ method: 'HEAD', path: blobPath(container, blobName) });
  return blobPropertiesFromHeaders(response.headers);
}

/** Get Blob (`GET`): the whole content, of the version `ifMatch` names when given (a 412 when it changed). */
export async function readBlobContent(
  client: StorageRestClient,
  container: string,
  blobName: string,
  ifMatch?: string,
): Promise<Buffer> {
  const response = await client.sendForBytes({
    method: 'GET',
    path: blobPath(container, blobName),
    ...(ifMatch ? { ifMatch } : {}),
  });
  return response.bytes;
}
