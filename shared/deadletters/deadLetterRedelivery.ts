import type { BlobServiceClient } from '@azure/storage-blob';
import type { QueueServiceClient } from '@azure/storage-queue';

import type { RedeliveryPort } from '../jobs/jobPorts';
import type { DeadLetter } from './deadLetterTypes';
import { replayMetadata } from './replayMarker';

/**
 * Puts a dead letter's work back on Azure Storage: a queue body is sent again byte for byte (it was stored as
 * delivered, so base64 stays base64); a blob is retriggered by a new version — a copy onto itself with new metadata gives it a new ETag and
 * names the job to reopen and the dead letter replayed (the marker the trigger checks, see replayMarker.ts). A source that is gone throws the SDK's 404.
 */
export function storageRedelivery(storage: { queues: QueueServiceClient; blobs: BlobServiceClient }): RedeliveryPort {
  return {
    async redeliver(letter: DeadLetter) {
      const source = letter.source;
      switch (source.kind) {
        case 'queue': {
          const queue = storage.queues.getQueueClient(source.queue);
          await queue.createIfNotExists();
          await queue.sendMessage(Buffer.from(letter.body).toString('base64'));
          return;
        }
        case 'blob': {
          const blob = storage.blobs.getContainerClient(source.container).getBlobClient(source.blobName);
          const properties = await blob.getProperties();
          // A copy of the blob onto itself with the new metadata, not Set Blob Metadata: a copy commits a new version
          // and raises BlobCreated, which an Event Grid-source trigger needs (a metadata change raises nothing).
          const copy = await blob.beginCopyFromURL(blob.url, {
            metadata: { ...(properties.metadata ?? {}), ...replayMetadata(letter), replay: String(letter.replays) },
            conditions: properties.etag ? { ifMatch: properties.etag } : {},
          });
          await copy.pollUntilDone();
          return;
        }
        default: {
          const never: never = source;
          throw new Error(`unknown dead-letter source ${JSON.stringify(never)}`);
        }
      }
    },
  };
}
