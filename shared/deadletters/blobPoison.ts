import type { DeadLetter, DeadLetterSource } from './deadLetterTypes';
import { type BlobPoisonMessage, blobPoisonMessage, type PoisonDelivery } from './poisonMessages';

/** The host's blobs.poisonBlobThreshold in host.json: how often a blob was tried before it was poisoned. */
export const POISON_BLOB_THRESHOLD = 3;

/** What handling a blob trigger poison message needs, as small functions (in-memory fakes in the unit tests). */
export interface BlobPoisonPorts {
  /** The container this app's blob trigger watches: poison of any other container belongs to another app. */
  ownContainer: string;
  /** Puts the message text back on the shared poison queue for the app that owns it. */
  returnToOwner(text: string): Promise<void>;
  /** The job of a blob version, when there is one. */
  jobIdOfBlob(container: string, blobName: string, etag: string): Promise<string | undefined>;
  /** Records the dead letter and fails its job (`JobRuntime.recordPoison`). */
  recordPoison(
    delivery: PoisonDelivery,
    source: DeadLetterSource,
    jobId: string | undefined,
    dequeueCount: number,
  ): Promise<DeadLetter>;
}

export type BlobPoisonOutcome =
  /** Another app's container: the message went back on the queue untouched. */
  | { outcome: 'returned-to-owner'; container: string }
  /** Recorded as a dead letter; `subject` is `{container}/{blob}`, or undefined for a message that did not parse. */
  | { outcome: 'recorded'; deadLetter: DeadLetter; subject: string | undefined };

/** The host's poison message, or undefined when the text is not one (not JSON, or missing fields). */
export function parseBlobPoisonMessage(text: string): BlobPoisonMessage | undefined {
  try {
    return blobPoisonMessage.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Blob trigger poison: every app on a storage account shares `webjobs-blobtrigger-poison`, so a message for a
 * container this app does not own is put back for its owner instead of being recorded here. An unreadable message is
 * recorded as a queue dead letter with its body intact.
 */
export async function handleBlobPoisonMessage(
  ports: BlobPoisonPorts,
  delivery: PoisonDelivery,
): Promise<BlobPoisonOutcome> {
  const parsed = parseBlobPoisonMessage(delivery.text);
  if (parsed && parsed.ContainerName !== ports.ownContainer) {
    await ports.returnToOwner(delivery.text);
    return { outcome: 'returned-to-owner', container: parsed.ContainerName };
  }
  const jobId = parsed ? await ports.jobIdOfBlob(parsed.ContainerName, parsed.BlobName, parsed.ETag) : undefined;
  const source: DeadLetterSource = parsed
    ? {
        kind: 'blob',
        container: parsed.ContainerName,
        blobName: parsed.BlobName,
        etag: parsed.ETag,
        functionId: parsed.FunctionId,
      }
    : { kind: 'queue', queue: delivery.poisonQueue };
  const deadLetter = await ports.recordPoison(delivery, source, jobId, POISON_BLOB_THRESHOLD);
  return {
    outcome: 'recorded',
    deadLetter,
    subject: parsed ? `${parsed.ContainerName}/${parsed.BlobName}` : undefined,
  };
}
