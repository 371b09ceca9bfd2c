import type { BlobServiceClient } from '@azure/storage-blob';

/** Azure allows five CORS rules per service: ours is added after the newest four of everyone else's. */
const MAX_CORS_RULES = 5;

/**
 * Lets browsers at `origins` `PUT` straight to storage with an upload's SAS URL: adds a blob service CORS rule for
 * them unless one like it is there, keeping everyone else's rules. Does nothing without origins.
 */
export async function ensureUploadCors(
  blobs: Pick<BlobServiceClient, 'getProperties' | 'setProperties'>,
  origins: readonly string[],
): Promise<void> {
  if (origins.length === 0) return;
  const properties = await blobs.getProperties();
  const rules = properties.cors ?? [];
  const allowedOrigins = origins.join(',');
  if (rules.some((rule) => rule.allowedOrigins === allowedOrigins && rule.allowedMethods.includes('PUT'))) return;
  await blobs.setProperties({
    cors: [
      ...rules.slice(-(MAX_CORS_RULES - 1)),
      {
        allowedOrigins,
        allowedMethods: 'PUT,OPTIONS',
        allowedHeaders: 'content-type,x-ms-blob-type,x-ms-version,x-ms-client-request-id',
        exposedHeaders: 'etag',
        maxAgeInSeconds: 600,
      },
    ],
  });
}
