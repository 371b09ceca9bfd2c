import type { CreatedBlob } from './blobCreatedEvent';
import type { BlobEventSource } from './blobEventSource';

/**
 * Where writes learnt of outside the scan (the blob front, a request by hand) reach the event sources of the running
 * blob listeners.
 */
export class LocalEventGrid {
  readonly #sources: BlobEventSource[] = [];

  attach(source: BlobEventSource): void {
    this.#sources.push(source);
  }

  /** Whether any Event Grid–source function watches this container of this account. */
  watches(accountName: string, container: string): boolean {
    return this.#sources.some((source) => source.watches(accountName, container));
  }

  /** Sends `BlobCreated` for an existing blob by hand (see {@link BlobEventSource.sendByHand}). */
  async sendByHand(container: string, blobName: string): Promise<{ functions: string[]; etag: string }> {
    const functions: string[] = [];
    let etag = '';
    for (const source of this.#sources) {
      const sent = await source.sendByHand(container, blobName);
      functions.push(...sent.functions);
      etag ||= sent.etag;
    }
    return { functions, etag };
  }

  /** Raises `BlobCreated` for a committed blob; false when a delivery failed. */
  async blobCreated(blob: CreatedBlob): Promise<boolean> {
    let delivered = true;
    for (const source of this.#sources) {
      if (source.watches(blob.accountName, blob.container) && !(await source.blobCreated(blob))) delivered = false;
    }
    return delivered;
  }
}
