import type { QueuesOptions } from '../config/hostOptions';
import { type HostQueue, sendCreatingQueue } from '../storage/restQueue';

/** The internal queue message (`BlobTriggerMessage`), and what `webjobs-blobtrigger-poison` receives. */
export interface BlobTriggerMessage {
  Type: 'BlobTrigger';
  /**
   * The function to run: `Host.Functions.<name>`. Null when an Event Grid delivery's URL had no `functionName`: the
   * extension queues it all the same, and the queue listener fails it ("Invalid function ID.") into the poison queue.
   */
  FunctionId: string | null;
  BlobType: 'BlockBlob' | 'PageBlob' | 'AppendBlob';
  ContainerName: string;
  BlobName: string;
  ETag: string;
}

export const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';

/**
 * A message on the blob trigger queue that cannot be run. Thrown, so the queue listener counts a failure: the message
 * is retried and then moved to `webjobs-blobtrigger-poison` with its body intact, as the host does.
 */
export class InvalidBlobTriggerMessageError extends Error {
  override readonly name = 'InvalidBlobTriggerMessageError';
  readonly code = 'BLOB_TRIGGER_MESSAGE_INVALID';
}

/** A queued message whose function is known: what the listener runs. */
export type RunnableBlobTriggerMessage = BlobTriggerMessage & { FunctionId: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a blob trigger queue message as `BlobQueueTriggerExecutor.ExecuteAsync` does: no JSON object → "Invalid blob
 * trigger message.", no `FunctionId` → "Invalid function ID." (both {@link InvalidBlobTriggerMessageError}). The
 * function id is returned alone first, so a message for a function this app lacks is skipped before its blob fields
 * are checked, as the host skips it.
 */
export function blobTriggerFunctionIdOf(text: string | undefined): { functionId: string; message: unknown } {
  let message: unknown;
  try {
    message = JSON.parse(text ?? '') as unknown;
  } catch {
    throw new InvalidBlobTriggerMessageError('Invalid blob trigger message.');
  }
  if (!isRecord(message)) throw new InvalidBlobTriggerMessageError('Invalid blob trigger message.');
  const functionId = message['FunctionId'];
  // Only a missing id is invalid: an empty one, like any id the app lacks, names no function and is skipped.
  if (typeof functionId !== 'string') {
    throw new InvalidBlobTriggerMessageError('Invalid function ID.');
  }
  return { functionId, message };
}

/** The blob fields of a message whose function is known; a missing container or blob name fails it. */
export function runnableBlobTriggerMessage(functionId: string, message: unknown): RunnableBlobTriggerMessage {
  const fields = isRecord(message) ? message : {};
  const { ContainerName: containerName, BlobName: blobName, ETag: etag, BlobType: blobType } = fields;
  if (typeof containerName !== 'string' || containerName === '' || typeof blobName !== 'string' || blobName === '') {
    throw new InvalidBlobTriggerMessageError('Invalid blob trigger message: it has no ContainerName or BlobName.');
  }
  return {
    Type: 'BlobTrigger',
    FunctionId: functionId,
    BlobType: blobType === 'PageBlob' || blobType === 'AppendBlob' ? blobType : 'BlockBlob',
    ContainerName: containerName,
    BlobName: blobName,
    ETag: typeof etag === 'string' ? etag : '',
  };
}

export function blobTriggerQueueName(hostId: string): string {
  return `azure-webjobs-blobtrigger-${hostId}`;
}

/**
 * The writer side of the host's shared blob trigger queue (`BlobTriggerQueueWriter`): both the container scan and
 * the Event Grid webhook put one message per function and blob version here; one listener runs them all.
 */
export class BlobTriggerQueue {
  constructor(
    readonly queue: HostQueue,
    private readonly encoding: QueuesOptions['messageEncoding'],
    /** Wakes the local listener at once (the host's SharedQueueWatcher). */
    private readonly written: () => void,
  ) {}

  async enqueue(message: BlobTriggerMessage): Promise<void> {
    const text = JSON.stringify(message, undefined, 2);
    await sendCreatingQueue(
      this.queue,
      this.encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text,
    );
    this.written();
  }
}
