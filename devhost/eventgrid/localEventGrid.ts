import type { CreatedBlob } from './blobCreatedEvent';
import type { BlobEventSource } from './blobEventSource';

/**
 * Where writes learnt of outside the scan (a blob front, a request by hand) reach the event sources of the running
 * blob listeners.
 */
export class LocalEventGrid {
  readonly #sources: BlobEventSource[] = [];

  attach(source: BlobEventSource): void {
    this.#sources.push(source);
  }

  /** Whether any Event Grid–source function watches this container of this account. */
  watches(accountKey: string, container: string): boolean {
    return this.#sources.some((source) => source.watches(accountKey, container));
  }

  /** Raises `BlobCreated` for a committed blob; false when a delivery failed. */
  async blobCreated(blob: CreatedBlob, accountKey: string): Promise<boolean> {
    let delivered = true;
    for (const source of this.#sources) {
      if (source.watches(accountKey, blob.container) && !(await source.blobCreated(blob, accountKey)))
        delivered = false;
    }
    return delivered;
  }
}
