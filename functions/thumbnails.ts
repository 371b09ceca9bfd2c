import { app, type InvocationContext } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { asText } from '../shared/storage/entityValues';
import { registerBlobReferenceFactory } from '../shared/thumbnails/blobReference';
import { runThumbnailJob, type UploadedBlob } from '../shared/thumbnails/thumbnailJob';
import { currentUploadEtag, readUploadVersion } from '../shared/thumbnails/uploadVersions';

const { names, config } = appServices();

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

/** The blob version from trigger metadata (the Node library camel-cases the host's `BlobProperties`). */
async function uploadedBlob(context: InvocationContext): Promise<UploadedBlob> {
  const metadata = record(context.triggerMetadata);
  const name = asText(metadata['name']);
  const properties = record(metadata['properties']);
  let etag = properties['eTag'] ?? properties['etag'];
  let contentLength = properties['contentLength'];
  if (typeof etag !== 'string' || typeof contentLength !== 'number') {
    const { storage } = appServices();
    const live = await storage.blobs.getContainerClient(names.containers.uploads).getBlobClient(name).getProperties();
    etag = live.etag ?? '';
    contentLength = live.contentLength ?? 0;
  }
  const userMetadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(record(metadata['metadata']))) {
    if (typeof value === 'string') userMetadata[key.toLowerCase()] = value;
  }
  return {
    container: names.containers.uploads,
    name,
    etag: etag as string,
    contentLength: contentLength as number,
    metadata: userMetadata,
  };
}

registerBlobReferenceFactory();

/**
 * A deferred (SDK-type) binding: the host hands over which blob changed, never its content, so an upload over the
 * size limit is refused without being read; the job downloads a version only once its size is known to fit.
 */
app.storageBlob('thumbnail', {
  path: `${names.containers.uploads}/{name}`,
  connection: 'AzureWebJobsStorage',
  // Event Grid by default (Flex Consumption has no polling source); THUMBNAIL_BLOB_SOURCE switches back.
  source: config.thumbnails.blobSource,
  sdkBinding: true,
  handler: async (_reference: unknown, context) => {
    const services = appServices();
    await services.ready();
    const blob = await uploadedBlob(context);
    const uploads = services.storage.blobs.getContainerClient(names.containers.uploads);
    const { outcome, job } = await runThumbnailJob(
      {
        runtime: services.runtime,
        deadLetters: services.deadLetters,
        thumbnails: services.storage.blobs.getContainerClient(names.containers.thumbnails),
        currentUploadEtag: (name) => currentUploadEtag(uploads, name),
        widths: services.config.thumbnails.widths,
        format: services.config.thumbnails.format,
        maxPixels: services.config.thumbnails.maxPixels,
        maxBytes: services.config.uploads.maxBytes,
      },
      blob,
      () => readUploadVersion(uploads, blob.name, blob.etag, blob.contentLength),
    );
    context.log(`thumbnail job ${job.id} for ${blob.name}: ${outcome}${job.error ? ` (${job.error.code})` : ''}`);
  },
});
