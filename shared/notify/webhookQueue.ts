import type { QueueClient } from '@azure/storage-queue';

import { describeError, describeSchemaIssues, NotifyError } from './notifyErrors';
import { base64JsonMessage, base64OfReceivedMessage, fitsInQueueMessage } from './queueMessageText';
import { deliverWebhook, type WebhookDeliveryOptions } from './webhookDelivery';
import { webhookIdFor, type WebhookMessage, webhookMessageSchema, webhookRequestBody } from './webhookMessage';
import { webhookRetryDelayMs, type WebhookRetrySchedule } from './webhookRetry';

/**
 * The webhooks queue: producers enqueue one message per webhook; the queue function delivers it, re-enqueues a copy
 * with a backoff delay on a transient failure, and sends the message to `<queue>-poison` itself on a permanent
 * failure or after the last attempt, so a hopeless webhook never burns the host's retries.
 *
 * Delivery is at least once: a message redelivered by the queue (a crash after the POST, before the delete) posts
 * the same webhook again. Receivers dedupe on the webhook id (header `Webhook-Id`, and `id` in the signed body).
 */

/** A webhook to send, as a producer describes it. */
export interface NewWebhook {
  jobId: string;
  /** The caller's callback URL (checked against the target policy at every attempt). */
  url: string;
  /** Event name, e.g. `order.completed`. */
  event: string;
  /** JSON the receiver gets as `data`. Keep it small: links to results rather than results. */
  payload: unknown;
  /** Defaults to {@link webhookIdFor}(jobId, event, payload), so a producer that runs twice enqueues one id. */
  webhookId?: string;
}

/** What the handler records on the job's timeline (never the URL, which may carry tokens, nor the body). */
export type WebhookJobEvent =
  | { type: 'webhook.delivered'; webhookId: string; event: string; attempt: number; host: string; statusCode: number }
  | {
      type: 'webhook.retry-scheduled';
      webhookId: string;
      event: string;
      attempt: number;
      nextAttemptInMs: number;
      code: string;
      message: string;
    }
  | { type: 'webhook.failed'; webhookId: string; event: string; attempt: number; code: string; message: string };

/** Everything the webhook queue handler needs; built once per app from settings. */
export interface WebhookQueueDependencies {
  /** The webhooks queue itself: retries are re-enqueued here with an initial visibility delay. */
  queue: QueueClient;
  /** `<queue>-poison`, where the dead-letter machinery picks failed webhooks up. */
  poisonQueue: QueueClient;
  delivery: WebhookDeliveryOptions;
  retry: WebhookRetrySchedule;
  /** Appends an event to the job's timeline; failures to record are logged, never retried. */
  recordJobEvent?: (jobId: string, event: WebhookJobEvent) => Promise<void>;
  /** Where the handler reports problems it handles itself (e.g. the job event could not be recorded). */
  warn?: (line: string) => void;
  /** Source of jitter (default `Math.random`). */
  random?: () => number;
}

/** What happened to one webhook queue message. Every outcome completes the message. */
export type WebhookOutcome =
  | { outcome: 'delivered'; webhookId: string; attempt: number; host: string; statusCode: number }
  | {
      outcome: 'retry-scheduled';
      webhookId: string;
      attempt: number;
      nextAttempt: number;
      delayMs: number;
      error: NotifyError;
    }
  | { outcome: 'dead-lettered'; webhookId: string | undefined; attempt: number | undefined; error: NotifyError };

/** The ids a producer gets back. */
export interface EnqueuedWebhook {
  webhookId: string;
  messageId: string;
}

/**
 * Puts a webhook on the webhooks queue (attempt 1), base64-encoded as the queue trigger expects. Throws a permanent
 * {@link NotifyError} when the webhook is invalid or too large for a queue message.
 */
export async function enqueueWebhook(
  queueClient: QueueClient,
  webhook: NewWebhook,
  options: { delayMs?: number } = {},
): Promise<EnqueuedWebhook> {
  const candidate = {
    jobId: webhook.jobId,
    url: webhook.url,
    event: webhook.event,
    payload: webhook.payload,
    attempt: 1,
    webhookId: webhook.webhookId ?? webhookIdFor(webhook.jobId, webhook.event, webhook.payload),
  };
  const parsed = webhookMessageSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new NotifyError('WEBHOOK_MESSAGE_INVALID', `Invalid webhook: ${describeSchemaIssues(parsed.error.issues)}`);
  }
  const text = base64JsonMessage(parsed.data);
  if (!fitsInQueueMessage(text)) {
    throw new NotifyError('WEBHOOK_PAYLOAD_TOO_LARGE', 'Webhook payload is too large for a queue message (64 KiB)');
  }
  const visibilityTimeout = options.delayMs === undefined ? undefined : Math.ceil(options.delayMs / 1000);
  const sent = await queueClient.sendMessage(text, visibilityTimeout === undefined ? {} : { visibilityTimeout });
  return { webhookId: parsed.data.webhookId, messageId: sent.messageId };
}

/**
 * Handles one message from the webhooks queue (the core of `functions/webhooks.ts`). `message` is what the queue
 * trigger handed over, unvalidated. Resolves with the outcome once the message may be completed; throws only when
 * storage fails while re-enqueueing or dead-lettering, so the host retries the message.
 */
export async function handleWebhookMessage(
  message: unknown,
  dependencies: WebhookQueueDependencies,
): Promise<WebhookOutcome> {
  const parsed = webhookMessageSchema.safeParse(message);
  if (!parsed.success) {
    const error = new NotifyError(
      'WEBHOOK_MESSAGE_INVALID',
      `Invalid webhook message: ${describeSchemaIssues(parsed.error.issues)}`,
    );
    await dependencies.poisonQueue.sendMessage(base64OfReceivedMessage(message));
    return { outcome: 'dead-lettered', webhookId: undefined, attempt: undefined, error };
  }
  const webhook = parsed.data;
  try {
    const delivered = await deliverWebhook(
      { url: webhook.url, webhookId: webhook.webhookId, body: webhookRequestBody(webhook) },
      dependencies.delivery,
    );
    await record(dependencies, webhook.jobId, {
      type: 'webhook.delivered',
      webhookId: webhook.webhookId,
      event: webhook.event,
      attempt: webhook.attempt,
      host: delivered.host,
      statusCode: delivered.statusCode,
    });
    return { outcome: 'delivered', webhookId: webhook.webhookId, attempt: webhook.attempt, ...delivered };
  } catch (thrown) {
    const error =
      thrown instanceof NotifyError
        ? thrown
        : new NotifyError('WEBHOOK_NETWORK_ERROR', `Webhook delivery failed: ${describeError(thrown)}`, {
            cause: thrown,
          });
    if (error.permanent || webhook.attempt >= dependencies.retry.maxAttempts) {
      return deadLetter(webhook, message, error, dependencies);
    }
    return scheduleRetry(webhook, error, dependencies);
  }
}

async function scheduleRetry(
  webhook: WebhookMessage,
  error: NotifyError,
  dependencies: WebhookQueueDependencies,
): Promise<WebhookOutcome> {
  const delayMs = webhookRetryDelayMs(webhook.attempt, dependencies.retry, error.retryAfterMs, dependencies.random);
  const next: WebhookMessage = { ...webhook, attempt: webhook.attempt + 1 };
  await dependencies.queue.sendMessage(base64JsonMessage(next), { visibilityTimeout: delayMs / 1000 });
  await record(dependencies, webhook.jobId, {
    type: 'webhook.retry-scheduled',
    webhookId: webhook.webhookId,
    event: webhook.event,
    attempt: webhook.attempt,
    nextAttemptInMs: delayMs,
    code: error.code,
    message: error.message,
  });
  return {
    outcome: 'retry-scheduled',
    webhookId: webhook.webhookId,
    attempt: webhook.attempt,
    nextAttempt: next.attempt,
    delayMs,
    error,
  };
}

async function deadLetter(
  webhook: WebhookMessage,
  received: unknown,
  error: NotifyError,
  dependencies: WebhookQueueDependencies,
): Promise<WebhookOutcome> {
  // The message exactly as received (not a wrapper), as the host itself would poison it, so the dead-letter
  // machinery records and replays it like any other poisoned message.
  await dependencies.poisonQueue.sendMessage(base64OfReceivedMessage(received));
  await record(dependencies, webhook.jobId, {
    type: 'webhook.failed',
    webhookId: webhook.webhookId,
    event: webhook.event,
    attempt: webhook.attempt,
    code: error.code,
    message: error.message,
  });
  return { outcome: 'dead-lettered', webhookId: webhook.webhookId, attempt: webhook.attempt, error };
}

async function record(dependencies: WebhookQueueDependencies, jobId: string, event: WebhookJobEvent): Promise<void> {
  if (!dependencies.recordJobEvent) return;
  try {
    await dependencies.recordJobEvent(jobId, event);
  } catch (error) {
    // The webhook's fate is settled; failing now would only make the queue deliver it again.
    dependencies.warn?.(`Could not record ${event.type} on job ${jobId}: ${describeError(error)}`);
  }
}
