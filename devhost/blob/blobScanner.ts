import type { ContainerClient } from '@azure/storage-blob';

import type { HostLogger } from '../log';

/** What the scanner knows of a blob when it hands it on. */
export interface BlobCandidate {
  name: string;
  etag: string;
  /** From the listing, for event payloads. */
  blobType?: string | undefined;
  contentType?: string | undefined;
  contentLength?: number | undefined;
}

/** Handles one candidate; false means "try again on the next scan" (for example, another host holds its receipt). */
export type CandidateHandler = (candidate: BlobCandidate) => Promise<boolean>;

interface WatchedContainer {
  client: ContainerClient;
  handlers: CandidateHandler[];
  /** Blob name → the ETag already handed on. Rebuilt from each listing, so deleted blobs drop out. */
  handled: Map<string, string>;
  /** Changes only: the first listing records what exists without handing anything on (an event source). */
  baselinePending: boolean;
  /** Changes only: whether a blob the first listing finds is history (default: all are); the rest are handed on. */
  isHistory: (lastModified: Date | undefined) => boolean;
}

export const SCAN_INTERVAL_MS = 2_000;
/** Blob versions handed on at once during one scan. */
const HAND_ON_CONCURRENCY = 8;

/**
 * The emulator scan strategy (`ScanContainersStrategy`): every two seconds, and at once when this host wrote to a
 * watched container, list every watched container and hand on each blob version not handed on before. Unlike the
 * host's in-memory LastModified watermark (strictly greater, one-second granularity) it remembers ETags, so a blob
 * written in the same second as the previous scan is never missed. Receipts make a repeat hand-on harmless.
 */
export class BlobScanner {
  readonly #containers = new Map<string, WatchedContainer>();
  readonly #logger: HostLogger;
  readonly #intervalMs: number;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #wakeRequested = false;
  #outage: string | undefined;
  #scanAbort = new AbortController();

  constructor(logger: HostLogger, intervalMs = SCAN_INTERVAL_MS) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /**
   * @param options.changesOnly hand on only blobs written after the first listing (see {@link prime}), as an event
   *   source does; otherwise every blob version not handed on before, existing ones included (the polling trigger)
   * @param options.isHistory changes only: which blobs of the first listing count as already seen (by last write);
   *   the others are handed on, so writes made while the process was down are not lost
   */
  watch(
    key: string,
    client: ContainerClient,
    handler: CandidateHandler,
    options: { changesOnly?: boolean; isHistory?: (lastModified: Date | undefined) => boolean } = {},
  ): void {
    let watched = this.#containers.get(key);
    if (!watched) {
      watched = {
        client,
        handlers: [],
        handled: new Map(),
        baselinePending: options.changesOnly === true,
        isHistory: options.isHistory ?? (() => true),
      };
      this.#containers.set(key, watched);
    }
    watched.handlers.push(handler);
  }

  /** Scan again as soon as possible (a blob was written, or a queued version turned out stale). */
  wake(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }

  /** Lists every changes-only container once, so blobs written after this returns are handed on. */
  async prime(): Promise<void> {
    this.#running = true;
    try {
      // Nothing is handed on while priming (the host is not serving yet): blobs that are not history stay unseen, so
      // the first regular scan hands them on.
      for (const watched of this.#containers.values()) if (watched.baselinePending) await this.#scan(watched, false);
    } finally {
      this.#running = false;
    }
  }

  /** @param options.afterInterval first wait one interval (the containers were just listed by {@link prime}) */
  start(options: { afterInterval?: boolean } = {}): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run(options.afterInterval === true);
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    this.#scanAbort.abort();
    await this.#loop;
  }

  async #run(waitFirst: boolean): Promise<void> {
    let skipScan = waitFirst;
    while (this.#running) {
      this.#wakeRequested = false;
      for (const watched of skipScan ? [] : this.#containers.values()) {
        if (!this.#running) break;
        try {
          await this.#scan(watched);
          this.#recovered(watched.client.containerName);
        } catch (error) {
          if (!this.#running) break;
          this.#reportOutage(watched.client.containerName, error);
        }
      }
      skipScan = false;
      if (!this.#running || this.#wakeRequested) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#intervalMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
  }

  async #scan(watched: WatchedContainer, handOn = true): Promise<void> {
    const seen = new Map<string, string>();
    const candidates: (BlobCandidate & { known: string | undefined })[] = [];
    try {
      for await (const blob of watched.client.listBlobsFlat({ abortSignal: this.#scanAbort.signal })) {
        if (!this.#running) return;
        // Listings give the ETag bare, GetProperties quoted; the host's receipts use the quoted HTTP form.
        const etag = `"${(blob.properties.etag ?? '').replace(/"/g, '')}"`;
        const known = watched.handled.get(blob.name);
        const history = watched.baselinePending && watched.isHistory(blob.properties.lastModified);
        if (known === etag || history) seen.set(blob.name, etag);
        else {
          candidates.push({
            name: blob.name,
            etag,
            known,
            blobType: blob.properties.blobType,
            contentType: blob.properties.contentType,
            contentLength: blob.properties.contentLength,
          });
        }
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) {
        watched.handled.clear(); // the container does not exist (yet): nothing to trigger
        watched.baselinePending = false; // so every blob it will hold is new
        return;
      }
      throw error;
    }
    watched.baselinePending = false;
    if (!handOn) candidates.length = 0;
    // Candidates are handed on several at a time: each is a few storage round trips (receipt, lease, enqueue), and
    // the receipts keep every blob version once-only whatever the order.
    let next = 0;
    const worker = async () => {
      while (next < candidates.length && this.#running) {
        const candidate = candidates[next++];
        if (!candidate) continue;
        let allHandled = true;
        for (const handler of watched.handlers) {
          try {
            if (!(await handler(candidate))) allHandled = false;
          } catch (error) {
            allHandled = false;
            this.#logger.warn(
              `Blob '${watched.client.containerName}/${candidate.name}' could not be queued: ${(error as Error).message.split('\n')[0] ?? ''}`,
            );
          }
        }
        if (allHandled) seen.set(candidate.name, candidate.etag);
        else if (candidate.known !== undefined) seen.set(candidate.name, candidate.known);
      }
    };
    await Promise.all(Array.from({ length: HAND_ON_CONCURRENCY }, worker));
    watched.handled.clear();
    for (const [name, etag] of seen) watched.handled.set(name, etag);
  }

  #reportOutage(container: string, error: unknown): void {
    const reason = (error as { code?: string }).code ?? (error as Error).message.split('\n')[0] ?? 'unknown error';
    if (this.#outage === undefined) {
      this.#logger.warn(`Blob container '${container}' cannot be scanned (${reason}); retrying.`);
    }
    this.#outage = reason;
  }

  #recovered(container: string): void {
    if (this.#outage !== undefined) {
      this.#logger.info(`Blob container '${container}' can be scanned again.`);
      this.#outage = undefined;
    }
  }
}
