import type { AppServices } from '../appServices';
import { BLOB_TRIGGER_POISON_QUEUE } from '../storage/resourceNames';
import { statusOf } from '../storage/tableErrors';
import { thumbnailJobOfPoisonedBlob } from '../thumbnails/thumbnailJob';
import type { BlobPoisonPorts } from './blobPoison';

/** The blob poison handler's ports on the app's storage: the shared poison queue, the job store, the runtime. */
export function blobPoisonPorts(services: AppServices): BlobPoisonPorts {
  return {
    ownContainer: services.names.containers.uploads,
    holdForOwner: async ({ messageId, popReceipt, hiddenForSeconds }) => {
      try {
        // No new text: only the visibility changes; id, body, insertion and expiry time stay the owner's.
        await services.storage.queues
          .getQueueClient(BLOB_TRIGGER_POISON_QUEUE)
          .updateMessage(messageId, popReceipt, undefined, hiddenForSeconds);
        return 'held';
      } catch (error) {
        // Deleted or expired meanwhile: nothing left to hold. Anything else (a 400 included) throws, so the host
        // keeps the message rather than deleting it with a receipt that is still valid.
        if (statusOf(error) === 404) return 'gone';
        throw error;
      }
    },
    jobIdOfBlob: (container, blobName, etag) =>
      thumbnailJobOfPoisonedBlob(
        {
          runtime: services.runtime,
          deadLetters: services.deadLetters,
          uploads: services.storage.blobs.getContainerClient(services.names.containers.uploads),
        },
        container,
        blobName,
        etag,
      ),
    recordPoison: (delivery, source, jobId, dequeueCount) =>
      services.runtime.recordPoison(delivery, source, jobId, dequeueCount),
  };
}
