import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { registerBlobReferenceFactory } from '../shared/thumbnails/blobReference';
import { runThumbnailJob } from '../shared/thumbnails/thumbnailJob';
import { thumbnailServices } from '../shared/thumbnails/thumbnailServices';
import { uploadedBlobOf } from '../shared/thumbnails/uploadedBlob';

const { names, config, ready } = appServices();
const services = thumbnailServices();

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
    await ready();
    const blob = await uploadedBlobOf(context.triggerMetadata, services.uploads);
    const { outcome, job } = await runThumbnailJob(services, blob);
    context.log(`thumbnail job ${job.id} for ${blob.name}: ${outcome}${job.error ? ` (${job.error.code})` : ''}`);
  },
});
