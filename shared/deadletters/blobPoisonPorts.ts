import type { AppServices } from '../appServices';
import { BLOB_TRIGGER_POISON_QUEUE } from '../storage/resourceNames';
import { resolveThumbnailJobId } from '../thumbnails/thumbnailJob';
import type { BlobPoisonPorts } from './blobPoison';

/** A poison message of another app sharing this storage account goes back, visible again after this long. */
const FOREIGN_MESSAGE_DELAY_SECONDS = 2;

/** The blob poison handler's ports on the app's storage: the shared poison queue, the job store, the runtime. */
export function blobPoisonPorts(services: AppServices): BlobPoisonPorts {
  return {
    ownContainer: services.names.containers.uploads,
    returnToOwner: async (text) => {
      await services.storage.queues
        .getQueueClient(BLOB_TRIGGER_POISON_QUEUE)
        .sendMessage(Buffer.from(text).toString('base64'), { visibilityTimeout: FOREIGN_MESSAGE_DELAY_SECONDS });
    },
    jobIdOfBlob: (container, blobName, etag) => resolveThumbnailJobId(services.jobs, container, blobName, etag),
    recordPoison: (delivery, source, jobId, dequeueCount) =>
      services.runtime.recordPoison(delivery, source, jobId, dequeueCount),
  };
}
