import { RandomizedExponentialBackoff } from '../core/retryPolicy';
import type { HostLogger } from '../log';
import type { HostQueue, ReceivedQueueMessage } from '../storage/restQueue';

/** A received message as the processing callback sees it. */
export interface QueueMessageContext {
  id: string;
  popReceipt: string;
  dequeueCount: number;
  insertedOn: Date | undefined;
  expiresOn: Date | undefined;
  nextVisibleOn: Date | undefined;
  /** The decoded text; undefined when the bytes are not valid UTF-8. */
  text: string | undefined;
  /** The message text exactly as stored (base64 when encoded): what a poison queue receives. */
  rawText: string;
}

export interface QueueListenerOptions {
  queue: HostQueue;
  /** Undefined when there is no poison queue (the name ends in -poison or would be too long). */
  poisonQueue: HostQueue | undefined;
  batchSize: number;
  newBatchThreshold: number;
  maxPollingIntervalMs: number;
  /** Delay before a failed message is visible again, in milliseconds. */
  visibilityTimeoutMs: number;
  maxDequeueCount: number;
  messageEncoding: 'base64' | 'none';
  logger: HostLogger;
  /** True when the message was handled (it is deleted), false when it failed (it is retried or poisoned). */
  process(message: QueueMessageContext): Promise<boolean>;
  /** Subscribes to the in-process fast path; returns the unsubscribe function. */
  onWake?: (wake: () => void) => () => void;
  /** Called after a message was moved to the poison queue. */
  onPoisoned?: (poisonQueueName: string) => void;
  /** Receive visibility in milliseconds (the host's fixed 10 minutes). */
  receiveVisibilityMs?: number;
  /** How often a message in progress has its visibility renewed, in milliseconds (half the receive visibility). */
  renewalIntervalMs?: number;
}

/** The host's fixed receive visibility (`QueueListener._visibilityTimeout`). */
export const RECEIVE_VISIBILITY_MS = 10 * 60_000;

/**
 * devhost only: `DEVHOST_RECEIVE_VISIBILITY_SECONDS` shortens the 10-minute receive visibility, so crash tests see
 * the messages of a killed host again in seconds rather than minutes. The real host has no such setting.
 */
export function receiveVisibilityFrom(env: NodeJS.ProcessEnv): number | undefined {
  const text = env['DEVHOST_RECEIVE_VISIBILITY_SECONDS'];
  if (!text) return undefined;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 2 || seconds > 600) {
    throw new Error('DEVHOST_RECEIVE_VISIBILITY_SECONDS must be a whole number of seconds from 2 to 600');
  }
  return seconds * 1000;
}
const MIN_POLLING_MS = 100;
/**
 * On stop, a receive already sent gets this long to answer before it is aborted: aborting it earlier could lose
 * messages the service already made invisible (they would stay hidden for the whole receive visibility).
 */
const STOP_RECEIVE_GRACE_MS = 2_000;
const MAX_QUEUE_NAME = 63;

/** The poison queue name, or undefined when the host would have none. */
export function poisonQueueNameFor(queueName: string): string | undefined {
  if (queueName.endsWith('-poison')) return undefined;
  const name = `${queueName}-poison`;
  return name.length > MAX_QUEUE_NAME ? undefined : name;
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes message text per `messageEncoding`; undefined bytes mean the base64 is invalid. */
export function decodeMessage(raw: string, encoding: 'base64' | 'none'): { bytes: Buffer } | undefined {
  if (encoding === 'none') return { bytes: Buffer.from(raw, 'utf8') };
  const compact = raw.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return { bytes: Buffer.from(compact, 'base64') };
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function isTransient(error: unknown): boolean {
  const status = statusOf(error);
  if (status === undefined) return true; // network: refused, reset, DNS, timeout
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The host's storage queue listener and processor: polls with randomized exponential backoff, runs up to
 * `batchSize + newBatchThreshold` messages at once, renews visibility of long work, deletes on success, releases
 * failed messages with `visibilityTimeout`, and moves a message to the poison queue on its `maxDequeueCount`-th
 * failure (or before invoking, when a crashed host left it past the limit).
 */
export class QueueListener {
  readonly #options: QueueListenerOptions;
  readonly #backoff: RandomizedExponentialBackoff;
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | undefined;
  /**
   * A new message was announced since this poll began (the host's `_stopWaitingTaskSource`, made anew as each poll
   * starts and completed by `Notify`): the wait after the poll ends at once. Kept apart from the wait itself, so an
   * announcement that lands while a receive is in flight, and finds the queue still empty, is not lost to the
   * backoff.
   */
  #notified = false;
  #endWait: (() => void) | undefined;
  #unsubscribe: (() => void) | undefined;
  #queueExists = false;
  #outage: string | undefined;
  /**
   * Aborts a poll still in flight shortly after stop: the SDK would otherwise retry a dead endpoint for many
   * seconds.
   */
  #pollAbort = new AbortController();

  constructor(options: QueueListenerOptions) {
    this.#options = options;
    this.#backoff = new RandomizedExponentialBackoff(
      MIN_POLLING_MS,
      Math.max(MIN_POLLING_MS, options.maxPollingIntervalMs),
    );
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#pollAbort = new AbortController();
    this.#unsubscribe = this.#options.onWake?.(() => this.#notify());
    this.#loop = this.#run();
  }

  /** Stops polling and waits for messages in progress; their delete or release still happens. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#unsubscribe?.();
    this.#notify();
    const abortTimer = setTimeout(() => this.#pollAbort.abort(), STOP_RECEIVE_GRACE_MS);
    await this.#loop;
    clearTimeout(abortTimer);
    await Promise.all([...this.#inFlight]);
  }

  async #run(): Promise<void> {
    let foundSinceLastDelay = false;
    while (this.#running) {
      let found = 0;
      this.#notified = false;
      try {
        found = await this.#poll();
        this.#recovered();
      } catch (error) {
        if (!this.#running) break; // stopped while polling
        this.#reportOutage(error);
        this.#queueExists = false;
      }
      if (!this.#running) break;
      if (found > 0) {
        foundSinceLastDelay = true;
        await this.#waitForBatchThreshold();
        continue;
      }
      await this.#delay(this.#backoff.next(foundSinceLastDelay));
      foundSinceLastDelay = false;
    }
  }

  async #poll(): Promise<number> {
    const { queue, batchSize } = this.#options;
    if (!this.#queueExists) {
      // The trigger does not create its queue; it waits for someone to.
      this.#queueExists = await queue.exists({ abortSignal: this.#pollAbort.signal });
      if (!this.#queueExists) return 0;
    }
    let messages: ReceivedQueueMessage[];
    try {
      messages = await queue.receiveMessages({
        numberOfMessages: batchSize,
        visibilityTimeoutSeconds: Math.round((this.#options.receiveVisibilityMs ?? RECEIVE_VISIBILITY_MS) / 1000),
        abortSignal: this.#pollAbort.signal,
      });
      if (!this.#running) {
        // Received as the stop began: not started, so hand them straight back for another instance.
        await Promise.all(
          messages.map((m) => queue.updateVisibility(m.messageId, m.popReceipt, 0).catch(() => undefined)),
        );
        return 0;
      }
    } catch (error) {
      if (statusOf(error) === 404) {
        this.#queueExists = false;
        return 0;
      }
      throw error;
    }
    for (const message of messages) {
      const work = this.#processMessage(message).finally(() => this.#inFlight.delete(work));
      this.#inFlight.add(work);
    }
    return messages.length;
  }

  async #waitForBatchThreshold(): Promise<void> {
    while (this.#inFlight.size > this.#options.newBatchThreshold) {
      await Promise.race([...this.#inFlight]);
    }
  }

  #notify(): void {
    this.#notified = true;
    this.#endWait?.();
  }

  #delay(ms: number): Promise<void> {
    if (this.#notified) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#endWait = done;
    }).then(() => {
      this.#endWait = undefined;
    });
  }

  #reportOutage(error: unknown): void {
    const reason = (error as { code?: string }).code ?? (error as Error).message.split('\n')[0] ?? 'unknown error';
    if (this.#outage === undefined) {
      this.#options.logger.warn(
        `Queue '${this.#options.queue.name}' is unreachable (${reason}); retrying with backoff.`,
      );
    }
    this.#outage = reason;
  }

  #recovered(): void {
    if (this.#outage !== undefined) {
      this.#options.logger.info(`Queue '${this.#options.queue.name}' is reachable again.`);
      this.#outage = undefined;
    }
  }

  async #processMessage(item: ReceivedQueueMessage): Promise<void> {
    const options = this.#options;
    const message = { id: item.messageId, popReceipt: item.popReceipt };
    const decoded = decodeMessage(item.messageText, options.messageEncoding);
    if (!decoded) {
      options.logger.warn(
        `Message decoding has failed! Check MessageEncoding settings. MessageId=${item.messageId} (queue '${options.queue.name}': the message is not valid base64; host.json extensions.queues.messageEncoding is "base64").`,
      );
      await this.#poison(item, message);
      return;
    }
    if (item.dequeueCount > options.maxDequeueCount && options.poisonQueue) {
      // A host crashed while running this message too often: poison it without running it again.
      await this.#poison(item, message);
      return;
    }
    const renewal = this.#startRenewal(message);
    let succeeded = false;
    try {
      succeeded = await options.process({
        id: item.messageId,
        popReceipt: item.popReceipt,
        dequeueCount: item.dequeueCount,
        insertedOn: item.insertedOn,
        expiresOn: item.expiresOn,
        nextVisibleOn: item.nextVisibleOn,
        text: decodeUtf8(decoded.bytes),
        rawText: item.messageText,
      });
    } catch (error) {
      options.logger.error(`Processing message ${item.messageId} failed: ${(error as Error).message}`);
      succeeded = false;
    } finally {
      await renewal.stop();
    }
    try {
      if (succeeded) {
        await this.#delete(message);
      } else if (!options.poisonQueue) {
        // No poison queue: leave the message invisible until its receive visibility lapses, so a message that
        // always fails cannot spin in a fast loop.
      } else if (item.dequeueCount >= options.maxDequeueCount) {
        await this.#poison(item, message);
      } else {
        await options.queue.updateVisibility(
          message.id,
          message.popReceipt,
          Math.round(options.visibilityTimeoutMs / 1000),
        );
      }
    } catch (error) {
      if (statusOf(error) === 404 || statusOf(error) === 400) return; // gone or pop receipt no longer valid
      options.logger.warn(
        `Completing message ${item.messageId} on '${options.queue.name}' failed: ${(error as Error).message.split('\n')[0] ?? ''}`,
      );
    }
  }

  async #delete(message: { id: string; popReceipt: string }): Promise<void> {
    try {
      await this.#options.queue.deleteMessage(message.id, message.popReceipt);
    } catch (error) {
      if (statusOf(error) === 404 || statusOf(error) === 400) return; // already gone, or another receiver owns it now
      throw error;
    }
  }

  async #poison(item: ReceivedQueueMessage, message: { id: string; popReceipt: string }): Promise<void> {
    const { poisonQueue, queue, logger, maxDequeueCount } = this.#options;
    if (!poisonQueue) return;
    logger.warn(
      `Message has reached MaxDequeueCount of ${maxDequeueCount}. Moving message to queue '${poisonQueue.name}'.`,
    );
    // Only the body moves, exactly as stored: a new id and dequeue count, as the host does.
    try {
      await poisonQueue.sendMessage(item.messageText);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      await poisonQueue.createIfNotExists();
      await poisonQueue.sendMessage(item.messageText);
    }
    await this.#delete(message).catch((error: unknown) => {
      logger.warn(
        `Deleting poisoned message ${item.messageId} from '${queue.name}' failed: ${(error as Error).message}`,
      );
    });
    this.#options.onPoisoned?.(poisonQueue.name);
  }

  /**
   * Keeps a message invisible while its function runs longer than half the receive visibility, so a slow
   * invocation is not handed to a second consumer. The renewed pop receipt is written back into `message`.
   */
  #startRenewal(message: { id: string; popReceipt: string }): { stop(): Promise<void> } {
    const visibilityMs = this.#options.receiveVisibilityMs ?? RECEIVE_VISIBILITY_MS;
    const intervalMs = this.#options.renewalIntervalMs ?? visibilityMs / 2;
    let pending: Promise<void> = Promise.resolve();
    let stopped = false;
    const timer = setInterval(() => {
      pending = pending.then(async () => {
        if (stopped) return;
        try {
          message.popReceipt = await this.#options.queue.updateVisibility(
            message.id,
            message.popReceipt,
            Math.round(visibilityMs / 1000),
          );
        } catch (error) {
          if (!isTransient(error)) {
            stopped = true;
            clearInterval(timer);
          }
        }
      });
    }, intervalMs);
    return {
      async stop() {
        stopped = true;
        clearInterval(timer);
        await pending;
      },
    };
  }
}
