import type { QueueReceipt } from '../jobs/queueDelivery';
import type { DeadLetter, DeadLetterSource } from './deadLetterTypes';
import { type BlobPoisonMessage, blobPoisonMessage, type PoisonDelivery } from './poisonMessages';

/** The host's blobs.poisonBlobThreshold in host.json: how often a blob was tried before it was poisoned. */
export const POISON_BLOB_THRESHOLD = 3;

/** How long another app's poison message is hidden after this app first receives it; doubled at each receive. */
export const FOREIGN_HOLD_FIRST_SECONDS = 5;
/**
 * The longest hold: the 10 minutes the host itself leaves a failed message invisible in a queue without a poison
 * queue of its own ("to prevent a fast infinite loop"), which is what `webjobs-blobtrigger-poison` is.
 */
export const FOREIGN_HOLD_MAX_SECONDS = 10 * 60;

/** What handling a blob trigger poison message needs, as small functions (in-memory fakes in the unit tests). */
export interface BlobPoisonPorts {
  /** The container this app's blob trigger watches: poison of any other container belongs to another app. */
  ownContainer: string;
  /**
   * Hides the message this receive holds for `hiddenForSeconds` in place (Update Message: same id, body, insertion
   * and expiry time) and returns `held`, or `gone` when it no longer exists. Throws on anything else, so the function
   * fails and the host does not delete the message.
   */
  holdForOwner(hold: { messageId: string; popReceipt: string; hiddenForSeconds: number }): Promise<'held' | 'gone'>;
  /** The job of a blob version (made when its attempts never wrote one), or undefined when it has none. */
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
  /**
   * Another app's container: the message stays on the queue as it is, hidden for `hiddenForSeconds` (undefined when
   * there was nothing to hold: a manual invocation without a receipt, or a message already gone).
   */
  | { outcome: 'left-for-owner'; container: string; hiddenForSeconds: number | undefined }
  /** Recorded as a dead letter; `subject` is `{container}/{blob}`, or undefined for a message that did not parse. */
  | { outcome: 'recorded'; deadLetter: DeadLetter; subject: string | undefined };

/**
 * How long to hide another app's message at its `dequeueCount`-th receive: 5 s, doubling to 10 minutes, and never past
 * the message's own expiry (Update Message refuses a visibility beyond it; the message may then expire as it would have).
 */
export function foreignHoldSeconds(dequeueCount: number, expiresAt: Date | undefined, now: Date): number {
  const doublings = Math.min(Math.max(dequeueCount, 1) - 1, 30);
  const wanted = Math.min(FOREIGN_HOLD_FIRST_SECONDS * 2 ** doublings, FOREIGN_HOLD_MAX_SECONDS);
  if (!expiresAt) return wanted;
  const untilExpiry = Math.floor((expiresAt.getTime() - now.getTime()) / 1000) - 1;
  return Math.max(0, Math.min(wanted, untilExpiry));
}

/** The host's poison message, or undefined when the text is not one (not JSON, or missing fields). */
export function parseBlobPoisonMessage(text: string): BlobPoisonMessage | undefined {
  try {
    return blobPoisonMessage.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Blob trigger poison: every app on a storage account shares `webjobs-blobtrigger-poison` (every project on Azurite
 * shares devstoreaccount1), so a message for a container this app does not own belongs to another app. It is left on
 * the queue as it is — hidden in place with Update Message, never deleted or re-sent — for a hold that grows with its
 * dequeue count (see {@link foreignHoldSeconds}): its owner can take it whenever it is visible, it costs this app one
 * receive per hold (at most one per 10 minutes after a few), and it keeps its id and expiry, so it still expires when
 * its 7 days are up instead of being kept alive by re-sends. The host deletes a message when its function succeeds,
 * but with the pop receipt of the receive, which the update replaced: that delete finds nothing, and the host
 * tolerates that. Without a receipt (a manual invocation) there is no message to hold. An unreadable message is
 * recorded as a queue dead letter with its body intact.
 */
export async function handleBlobPoisonMessage(
  ports: BlobPoisonPorts,
  delivery: PoisonDelivery,
  receipt: QueueReceipt | undefined,
  now: Date = new Date(),
): Promise<BlobPoisonOutcome> {
  const parsed = parseBlobPoisonMessage(delivery.text);
  if (parsed && parsed.ContainerName !== ports.ownContainer) {
    let hiddenForSeconds: number | undefined;
    if (receipt) {
      const seconds = foreignHoldSeconds(receipt.dequeueCount, receipt.expiresAt, now);
      const held = await ports.holdForOwner({
        messageId: delivery.messageId,
        popReceipt: receipt.popReceipt,
        hiddenForSeconds: seconds,
      });
      if (held === 'held') hiddenForSeconds = seconds;
    }
    return { outcome: 'left-for-owner', container: parsed.ContainerName, hiddenForSeconds };
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
