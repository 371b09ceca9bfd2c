import type { ContainerClient } from '@azure/storage-blob';

import type { HostLogger } from '../log';
import { BlobLeaseLock } from './blobLeaseLock';

/** `PrimaryHostCoordinatorOptions.LeaseTimeout`: the host lock is a 15-second blob lease. */
export const PRIMARY_HOST_LEASE_MS = 15_000;
/** The coordinator's timer: renew (or try to acquire) 3 seconds before the lease would lapse. */
export const PRIMARY_HOST_RENEWAL_MS = PRIMARY_HOST_LEASE_MS - 3_000;

/**
 * The primary host lock (`PrimaryHostCoordinator`): a 15 s lease on `azure-webjobs-hosts/locks/{hostId}/host`,
 * renewed every 12 s while held and tried every 12 s while another instance holds it, released on stop. Of all the
 * hosts sharing a host id exactly one holds it; when that one dies without releasing, the lease lapses and another
 * takes it at its next try. Logs the host's own lines, which scripts and test harnesses wait for.
 */
export class PrimaryHostLock {
  readonly #lock: BlobLeaseLock;
  readonly #instanceId: string;
  readonly #logger: HostLogger;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #attempt: Promise<void> | undefined;

  constructor(hostsContainer: ContainerClient, hostId: string, instanceId: string, logger: HostLogger) {
    this.#instanceId = instanceId;
    this.#logger = logger;
    this.#lock = new BlobLeaseLock(
      hostsContainer,
      `locks/${hostId}/host`,
      PRIMARY_HOST_LEASE_MS,
      instanceId,
      logger,
      PRIMARY_HOST_RENEWAL_MS,
    );
  }

  /** Whether this host is the primary now. */
  get held(): boolean {
    return this.#lock.held;
  }

  /** Tries at once (without delaying start-up), then every renewal interval until it holds the lease. */
  start(): void {
    this.#attempt = this.#tryAcquire();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#attempt;
    if (!this.#lock.held) return;
    await this.#lock.release();
    this.#logger.info(`Host instance '${this.#instanceId}' released lock lease.`);
  }

  async #tryAcquire(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (await this.#lock.tryAcquire(() => this.#lost())) {
        if (this.#stopped) return; // stop() releases it
        this.#logger.info(`Host lock lease acquired by instance ID '${this.#instanceId}'.`);
        return;
      }
      // Another instance holds it: normal, and the host does not log it either.
    } catch (error) {
      this.#logger.debug(`Host lock lease could not be acquired: ${(error as Error).message.split('\n')[0] ?? ''}`);
    }
    this.#schedule();
  }

  #lost(): void {
    this.#logger.warn('Failed to renew host lock lease: Another host has acquired the lease.');
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#attempt = this.#tryAcquire();
    }, PRIMARY_HOST_RENEWAL_MS);
    this.#timer.unref();
  }
}
