import type { QueueClient } from '@azure/storage-queue';

import type { QueuesOptions } from '../config/hostOptions';

/** The internal queue message (`BlobTriggerMessage`), and what `webjobs-blobtrigger-poison` receives. */
export interface BlobTriggerMessage {
  Type: 'BlobTrigger';
  FunctionId: string;
  BlobType: 'BlockBlob' | 'PageBlob' | 'AppendBlob';
  ContainerName: string;
  BlobName: string;
  ETag: string;
}

export const BLOB_POISON_QUEUE = 'webjobs-blobtrigger-poison';

export function blobTriggerQueueName(hostId: string): string {
  return `azure-webjobs-blobtrigger-${hostId}`;
}

/**
 * The writer side of the host's shared blob trigger queue (`BlobTriggerQueueWriter`): both the container scan and
 * the Event Grid webhook put one message per function and blob version here; one listener runs them all.
 */
export class BlobTriggerQueue {
  #created = false;

  constructor(
    readonly queue: QueueClient,
    private readonly encoding: QueuesOptions['messageEncoding'],
    /** Wakes the local listener at once (the host's SharedQueueWatcher). */
    private readonly written: () => void,
  ) {}

  async enqueue(message: BlobTriggerMessage): Promise<void> {
    if (!this.#created) {
      await this.queue.createIfNotExists();
      this.#created = true;
    }
    const text = JSON.stringify(message, undefined, 2);
    await this.queue.sendMessage(this.encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text);
    this.written();
  }
}
