import type { ContainerClient } from '@azure/storage-blob';

import type { BlobPathPattern } from '../blob/blobPathPattern';
import { BlobScanner } from '../blob/blobScanner';
import type { HostLogger } from '../log';
import { blobCreatedEvent, blobTypeOf, type CreatedBlob } from './blobCreatedEvent';
import type { RuntimeWebhooks } from './runtimeWebhooks';

/** One Event Grid subscription, as a user would create it for an Event Grid–source blob function. */
export interface BlobEventSubscription {
  functionName: string;
  /** The data account's container the function watches. */
  container: ContainerClient;
  pattern: BlobPathPattern;
  accountName: string;
  /** Identifies the connection, so two functions on one container share one scan. */
  connectionKey: string;
}

const DELIVERY_ATTEMPTS = 4;
const FIRST_RETRY_MS = 200;

/**
 * Devhost as the local Event Grid: Azurite raises no events, so devhost raises `BlobCreated` for the containers that
 * Event Grid–source functions watch, and delivers each through the host's own webhook
 * (`/runtime/webhooks/blobs?functionName=Host.Functions.<name>`), exactly as an Event Grid subscription would.
 *
 * Writes are learnt of in two ways: the blob front (a thin proxy in front of a local blob endpoint) reports each
 * committed blob at once, whatever the size of the container; a changes-only scan of the watched containers catches
 * writes that did not pass through a front (another tool writing to Azurite directly, a storage account in Azure).
 * A claim blob per blob version (`eventgrid-events/...` in `azure-webjobs-hosts`) makes each version raise its event
 * once, across both ways and across several devhost processes, as one write raises one event in Azure.
 */
export class BlobEventSource {
  readonly #subscriptions: BlobEventSubscription[] = [];
  readonly #scanner: BlobScanner;

  constructor(
    private readonly options: {
      webhooks: RuntimeWebhooks;
      /** `azure-webjobs-hosts` in the host account, for the once-per-version claims. */
      hostContainer: ContainerClient;
      hostId: string;
      logger: HostLogger;
      /** How often the fallback scan lists the watched containers; 0 turns it off. */
      scanIntervalMs: number;
    },
  ) {
    this.#scanner = new BlobScanner(options.logger, Math.max(options.scanIntervalMs, 1));
  }

  subscribe(subscription: BlobEventSubscription): void {
    this.#subscriptions.push(subscription);
    if (this.options.scanIntervalMs <= 0) return;
    this.#scanner.watch(
      `${subscription.connectionKey}|${subscription.container.containerName}`,
      subscription.container,
      async (candidate) => {
        if (!subscription.pattern.match(candidate.name)) return true;
        return this.#publishToAll({
          accountName: subscription.accountName,
          container: subscription.container.containerName,
          blobName: candidate.name,
          url: subscription.container.getBlobClient(candidate.name).url,
          etag: candidate.etag,
          blobType: blobTypeOf(candidate.blobType),
          contentType: candidate.contentType,
          contentLength: candidate.contentLength,
          api: 'PutBlob',
        });
      },
      { changesOnly: true },
    );
  }

  /** Scan now (this host wrote to a watched container). */
  wake(): void {
    this.#scanner.wake();
  }

  /** Whether some subscription watches this container of this account (by name: locally, names are unique). */
  watches(accountName: string, container: string): boolean {
    return this.#subscriptions.some((s) => s.accountName === accountName && s.container.containerName === container);
  }

  /** Records what exists now; only blobs written afterwards raise events (Event Grid has no history). */
  async start(): Promise<void> {
    if (this.options.scanIntervalMs <= 0) return;
    await this.#scanner.prime();
    this.#scanner.start({ afterInterval: true });
  }

  async stop(): Promise<void> {
    await this.#scanner.stop();
  }

  /**
   * Sends `BlobCreated` for an existing blob by hand, to every subscription whose container and path it matches,
   * even if its version raised one before (that is the point of asking). Returns the functions it went to; none when
   * no subscription matches. Throws the storage error (404) when the blob does not exist.
   */
  async sendByHand(container: string, blobName: string): Promise<{ functions: string[]; etag: string }> {
    const targets = this.#subscriptions.filter(
      (s) => s.container.containerName === container && s.pattern.match(blobName),
    );
    const first = targets[0];
    if (!first) return { functions: [], etag: '' };
    const blob = first.container.getBlobClient(blobName);
    const properties = await blob.getProperties();
    const created: CreatedBlob = {
      accountName: first.accountName,
      container,
      blobName,
      url: blob.url,
      etag: properties.etag ?? '',
      blobType: blobTypeOf(properties.blobType),
      contentType: properties.contentType,
      contentLength: properties.contentLength,
      api: 'PutBlob',
    };
    for (const target of targets) await this.#deliver(target.functionName, created);
    return { functions: targets.map((t) => t.functionName), etag: created.etag };
  }

  /** A blob was committed (seen by a front, or named by hand): raise its event now. */
  async blobCreated(blob: CreatedBlob): Promise<boolean> {
    return this.#publishToAll(blob);
  }

  async #publishToAll(blob: CreatedBlob): Promise<boolean> {
    const targets = this.#subscriptions.filter(
      (s) =>
        s.accountName === blob.accountName &&
        s.container.containerName === blob.container &&
        s.pattern.match(blob.blobName),
    );
    if (targets.length === 0) return true;
    const claim = this.options.hostContainer.getBlockBlobClient(
      `eventgrid-events/${this.options.hostId}/${blob.container}/${blob.etag.replace(/"/g, '')}/${blob.blobName}`,
    );
    if (!(await this.#claim(claim))) return true; // another devhost (or the other way of learning) raised it
    try {
      for (const target of targets) await this.#deliver(target.functionName, blob);
      return true;
    } catch (error) {
      await claim.deleteIfExists().catch(() => undefined); // let the next scan raise it again
      this.options.logger.warn(
        `BlobCreated for '${blob.container}/${blob.blobName}' not delivered: ${(error as Error).message}`,
      );
      return false;
    }
  }

  async #claim(claim: ReturnType<ContainerClient['getBlockBlobClient']>): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await claim.upload('', 0, { conditions: { ifNoneMatch: '*' } });
        return true;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 409 || status === 412) return false;
        if (status !== 404 || attempt > 0) throw error;
        await this.options.hostContainer.createIfNotExists();
      }
    }
    return false;
  }

  /** One subscription's delivery, retried with backoff as Event Grid retries a failing endpoint. */
  async #deliver(functionName: string, blob: CreatedBlob): Promise<void> {
    const { webhooks } = this.options;
    const url = `${webhooks.urlOf('blobs')}?functionName=${encodeURIComponent(`Host.Functions.${functionName}`)}`;
    const key = webhooks.systemKey('blobs');
    const body = JSON.stringify([blobCreatedEvent(blob)]);
    let lastError: unknown;
    for (let attempt = 0; attempt < DELIVERY_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, FIRST_RETRY_MS * 2 ** (attempt - 1)));
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'aeg-event-type': 'Notification',
            'aeg-subscription-name': `DEVHOST-${functionName.toUpperCase()}`,
            'aeg-delivery-count': String(attempt),
            'aeg-data-version': '',
            'aeg-metadata-version': '1',
            ...(key ? { 'x-functions-key': key.value } : {}),
          },
          body,
        });
        await response.arrayBuffer();
        if (response.status >= 200 && response.status < 300) return;
        lastError = new Error(`webhook answered ${response.status}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}
