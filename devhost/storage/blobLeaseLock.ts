import type { BlobLeaseClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';

import type { HostLogger } from '../log';

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function isTransient(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

const RELEASE_TIMEOUT_MS = 2_000;

/** Blob leases last 15 to 60 seconds; the host's lock periods are validated to that range. */
export function leaseSeconds(periodMs: number): number {
  return Math.min(60, Math.max(15, Math.round(periodMs / 1000)));
}

/**
 * A distributed lock held as a lease on an empty blob (`BlobLeaseDistributedLockManager`): created if missing,
 * acquired only when no one else holds it, renewed every half period (or as asked), released on stop. When a renewal fails for
 * good (someone broke the lease, or it expired during an outage) the lock reports itself lost.
 */
export class BlobLeaseLock {
  readonly #container: ContainerClient;
  readonly #blob: BlockBlobClient;
  readonly #lease: BlobLeaseClient;
  readonly #seconds: number;
  readonly #logger: HostLogger;
  readonly #owner: string;
  readonly #renewEveryMs: number;
  #renewal: NodeJS.Timeout | undefined;
  #held = false;

  /**
   * @param periodMs lease period in milliseconds (clamped to the 15 to 60 s blob leases allow)
   * @param owner written to the blob's `FunctionInstance` metadata, as the host writes it
   * @param renewEveryMs renewal interval in milliseconds; default half the period (the singleton locks' rule)
   */
  constructor(
    container: ContainerClient,
    blobName: string,
    periodMs: number,
    owner: string,
    logger: HostLogger,
    renewEveryMs?: number,
  ) {
    this.#container = container;
    this.#blob = container.getBlockBlobClient(blobName);
    this.#lease = this.#blob.getBlobLeaseClient();
    this.#seconds = leaseSeconds(periodMs);
    this.#logger = logger;
    this.#owner = owner;
    this.#renewEveryMs = renewEveryMs ?? (this.#seconds * 1000) / 2;
  }

  get held(): boolean {
    return this.#held;
  }

  get name(): string {
    return this.#blob.name;
  }

  /** True when this instance now holds the lock; false when another holds it. `onLost` runs if it is lost later. */
  async tryAcquire(onLost: () => void): Promise<boolean> {
    if (this.#held) return true;
    try {
      await this.#lease.acquireLease(this.#seconds);
    } catch (error) {
      const status = statusOf(error);
      if (status === 409) return false; // LeaseAlreadyPresent: another instance holds it
      if (status !== 404) throw error;
      await this.#create();
      try {
        await this.#lease.acquireLease(this.#seconds);
      } catch (retryError) {
        if (statusOf(retryError) === 409) return false;
        throw retryError;
      }
    }
    this.#held = true;
    await this.#blob
      .setMetadata({ FunctionInstance: this.#owner }, { conditions: { leaseId: this.#lease.leaseId } })
      .catch(() => undefined); // informational only
    this.#scheduleRenewal(onLost, this.#renewEveryMs);
    return true;
  }

  async release(): Promise<void> {
    if (this.#renewal) clearTimeout(this.#renewal);
    this.#renewal = undefined;
    if (!this.#held) return;
    this.#held = false;
    // Bounded: on stop with storage down, the lease simply expires by itself.
    await this.#lease.releaseLease({ abortSignal: AbortSignal.timeout(RELEASE_TIMEOUT_MS) }).catch((error: unknown) => {
      this.#logger.debug(`Releasing lock '${this.name}' failed: ${(error as Error).message.split('\n')[0] ?? ''}`);
    });
  }

  async #create(): Promise<void> {
    try {
      await this.#blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      const status = statusOf(error);
      if (status === 409 || status === 412) return; // created by another instance meanwhile
      if (status !== 404) throw error;
      await this.#container.createIfNotExists();
      await this.#create();
    }
  }

  #scheduleRenewal(onLost: () => void, delayMs: number): void {
    this.#renewal = setTimeout(() => {
      this.#lease.renewLease().then(
        () => this.#scheduleRenewal(onLost, this.#renewEveryMs),
        (error: unknown) => {
          if (!this.#held) return;
          // A transient failure retries sooner (the host halves the interval, down to one second).
          if (isTransient(error) && delayMs > 1000) {
            this.#scheduleRenewal(onLost, Math.max(1000, delayMs / 2));
            return;
          }
          this.#held = false;
          this.#logger.warn(`Lost lock '${this.name}': ${(error as Error).message.split('\n')[0] ?? 'renewal failed'}`);
          onLost();
        },
      );
    }, delayMs);
    this.#renewal.unref();
  }
}
