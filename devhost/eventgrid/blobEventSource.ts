import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';

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
 * A claim not marked delivered after this long belongs to a devhost that died mid-delivery: another takes it over.
 * Far above the longest delivery (four attempts with backoff).
 */
const STALE_CLAIM_MS = 30_000;
const DELIVERED = 'delivered';
/** Slack for the local clock against storage's when waiting out the subscription's first second. */
const CLOCK_MARGIN_MS = 100;

/**
 * Devhost as the local Event Grid: Azurite raises no events, so devhost raises `BlobCreated` for the containers that
 * Event Grid–source functions watch, and delivers each through the host's own webhook
 * (`/runtime/webhooks/blobs?functionName=Host.Functions.<name>`), exactly as an Event Grid subscription would.
 *
 * Writes are learnt of in two ways: the blob front (a thin proxy in front of a local blob endpoint) reports each
 * committed blob at once, whatever the size of the container; a changes-only scan of the watched containers catches
 * writes that did not pass through a front (another tool writing to Azurite directly, a storage account in Azure).
 * A claim blob per blob version (`eventgrid-events/...` in `azure-webjobs-hosts`) makes each version raise its event
 * once, across both ways and across several devhost processes, as one write raises one event in Azure: a scan takes
 * the claim before it delivers (every devhost's scan may find the version); a front, which sees each commit once,
 * delivers first and then writes the claim already marked delivered.
 */
export class BlobEventSource {
  readonly #subscriptions: BlobEventSubscription[] = [];
  readonly #scanner: BlobScanner;
  /** Claims of versions this host's front is delivering now: its scan leaves them to the front. */
  readonly #frontDeliveries = new Set<string>();
  /** When this host id's subscriptions first started (persisted): blobs written since are never history. */
  #subscribedSince: Date | undefined;

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
        return this.#publishScanned({
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
      {
        changesOnly: true,
        // Event Grid raises an event at commit and retries delivery for hours, so a write made while devhost was
        // stopped still arrives: only what existed before the subscription first started is history. Storage times
        // have one-second granularity, so a blob of the very second the subscription started counts as history —
        // and the first start waits that second out (#subscriptionStart), so nothing written once the host has
        // started can fall into it.
        isHistory: (lastModified) =>
          !this.#subscribedSince || !lastModified || lastModified.getTime() <= this.#subscribedSince.getTime(),
      },
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

  /**
   * Records what exists now: blobs written before the subscription first started are history (Event Grid has
   * none); later ones without a delivered claim (written while devhost was down) raise their events.
   */
  async start(): Promise<void> {
    if (this.options.scanIntervalMs <= 0) return;
    this.#subscribedSince = await this.#subscriptionStart();
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

  /**
   * A blob was committed and a front saw it: raise its event now. The front sees each commit once, so it delivers
   * first and then records the version as delivered in one write (the claim, created already marked): no claim
   * round trip before the event, and no event lost if devhost dies in between — an unmarked version is raised again
   * by the scan (at least once, as Event Grid delivers). A failed delivery leaves no mark, so the scan retries it.
   */
  async blobCreated(blob: CreatedBlob): Promise<boolean> {
    const targets = this.#targetsOf(blob);
    if (targets.length === 0) return true;
    const key = this.#claimName(blob);
    this.#frontDeliveries.add(key);
    try {
      for (const target of targets) await this.#deliver(target.functionName, blob);
    } catch (error) {
      this.#frontDeliveries.delete(key);
      this.#warnUndelivered(blob, error);
      return false;
    }
    try {
      // Taken already (false): a scan got there first and raises it too — at least once, never lost.
      await this.#createOnce(this.options.hostContainer.getBlockBlobClient(key), { [DELIVERED]: 'true' });
    } catch (error) {
      this.options.logger.warn(
        `BlobCreated for '${blob.container}/${blob.blobName}' delivered but not marked (${(error as Error).message}); a later scan may raise it again.`,
      );
    } finally {
      // Only now: until the mark is written, this host's scan must not take the version for undelivered.
      this.#frontDeliveries.delete(key);
    }
    return true;
  }

  /** A blob the scan found: claimed first, since every devhost's scan may find the same version. */
  async #publishScanned(blob: CreatedBlob): Promise<boolean> {
    const targets = this.#targetsOf(blob);
    if (targets.length === 0) return true;
    const key = this.#claimName(blob);
    if (this.#frontDeliveries.has(key)) return false; // this host's front is raising it: look again later
    const claim = this.options.hostContainer.getBlockBlobClient(key);
    const claimed = await this.#claim(claim);
    if (claimed === 'delivered') return true; // another devhost (or a front) raised it
    if (claimed === 'pending') return false; // another is delivering it now: look again on the next scan
    try {
      for (const target of targets) await this.#deliver(target.functionName, blob);
      await claim.setMetadata({ [DELIVERED]: 'true' }).catch(() => undefined); // at worst, delivered again later
      return true;
    } catch (error) {
      await claim.deleteIfExists().catch(() => undefined); // let the next scan raise it again
      this.#warnUndelivered(blob, error);
      return false;
    }
  }

  #targetsOf(blob: CreatedBlob): BlobEventSubscription[] {
    return this.#subscriptions.filter(
      (s) =>
        s.accountName === blob.accountName &&
        s.container.containerName === blob.container &&
        s.pattern.match(blob.blobName),
    );
  }

  /** The claim blob of one blob version, in `azure-webjobs-hosts`. */
  #claimName(blob: CreatedBlob): string {
    return `eventgrid-events/${this.options.hostId}/${blob.container}/${blob.etag.replace(/"/g, '')}/${blob.blobName}`;
  }

  #warnUndelivered(blob: CreatedBlob, error: unknown): void {
    this.options.logger.warn(
      `BlobCreated for '${blob.container}/${blob.blobName}' not delivered: ${(error as Error).message}`,
    );
  }

  /**
   * The first start of this host id's subscriptions, recorded once in the host container. The start that records it
   * then waits until storage's clock has left that second (at most a second, once per host id): a blob of the
   * marker's second is history at every later start, so none written after `Host started` may share it — a write
   * right after the first start would otherwise be lost at the next one.
   */
  async #subscriptionStart(): Promise<Date> {
    const marker = this.options.hostContainer.getBlockBlobClient(
      `eventgrid-events/${this.options.hostId}/subscription-start`,
    );
    const created = await this.#createOnce(marker);
    const properties = await marker.getProperties();
    const since = properties.createdOn ?? properties.lastModified ?? new Date();
    if (created) {
      const rest = since.getTime() + 1000 + CLOCK_MARGIN_MS - Date.now();
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
    return since;
  }

  /**
   * Takes the claim of one blob version: `claimed` (deliver it), `delivered` (someone did), or `pending` (someone
   * is delivering it). A claim left undelivered past {@link STALE_CLAIM_MS} is taken over.
   */
  async #claim(claim: BlockBlobClient): Promise<'claimed' | 'delivered' | 'pending'> {
    if (await this.#createOnce(claim)) return 'claimed';
    const properties = await claim.getProperties();
    if (properties.metadata?.[DELIVERED] === 'true') return 'delivered';
    const age = Date.now() - (properties.lastModified?.getTime() ?? Date.now());
    if (age < STALE_CLAIM_MS) return 'pending';
    try {
      await claim.upload('', 0, { conditions: { ifMatch: properties.etag ?? '*' } });
      return 'claimed';
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 409 || status === 412) return 'pending';
      throw error;
    }
  }

  /** Creates an empty blob unless it exists (creating the host container when missing); true when this call did. */
  async #createOnce(blob: BlockBlobClient, metadata?: Record<string, string>): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, ...(metadata ? { metadata } : {}) });
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

  /**
   * One subscription's delivery, retried with backoff as Event Grid retries a failing endpoint. It reaches the
   * blobs webhook in process (`RuntimeWebhooks.deliver`): the same request an Event Grid delivery makes to
   * `/runtime/webhooks/blobs`, without the loopback HTTP round trip.
   */
  async #deliver(functionName: string, blob: CreatedBlob): Promise<void> {
    const { webhooks } = this.options;
    const url = new URL(
      `${webhooks.urlOf('blobs')}?functionName=${encodeURIComponent(`Host.Functions.${functionName}`)}`,
    );
    const body = Buffer.from(JSON.stringify([blobCreatedEvent(blob)]), 'utf8');
    let lastError: unknown;
    for (let attempt = 0; attempt < DELIVERY_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, FIRST_RETRY_MS * 2 ** (attempt - 1)));
      try {
        const response = await webhooks.deliver('blobs', {
          method: 'POST',
          url,
          headers: {
            'content-type': 'application/json',
            'aeg-event-type': 'Notification',
            'aeg-subscription-name': `DEVHOST-${functionName.toUpperCase()}`,
            'aeg-delivery-count': String(attempt),
            'aeg-data-version': '',
            'aeg-metadata-version': '1',
          },
          body,
        });
        if (response.status >= 200 && response.status < 300) return;
        lastError = new Error(`webhook answered ${response.status}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}
