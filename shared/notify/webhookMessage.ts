import { createHash } from 'node:crypto';

import { z } from 'zod';

/**
 * The message on the webhooks queue: one webhook to deliver, with the attempt it is on. Producers create it with
 * `enqueueWebhook`; the queue handler validates it with {@link webhookMessageSchema} (anything else is permanent).
 */

/** Event names look like `order.completed` or `job.progress`. */
const EVENT_NAME = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/;
/** Webhook ids travel in a header: letters, digits and a few separators only, never a line break. */
const WEBHOOK_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** A webhook is retried this many times at most, whatever the settings say. */
export const MAX_WEBHOOK_ATTEMPTS_LIMIT = 50;

/**
 * Schema of a webhook queue message. Unknown fields are kept (a newer producer's fields survive a retry by an
 * older handler).
 */
export const webhookMessageSchema = z.looseObject({
  jobId: z.string().min(1).max(128),
  url: z.string().min(1).max(2048),
  event: z.string().max(64).regex(EVENT_NAME, 'lower-case words separated by ".", "_" or "-"'),
  payload: z.json(),
  attempt: z.number().int().min(1).max(MAX_WEBHOOK_ATTEMPTS_LIMIT),
  webhookId: z.string().regex(WEBHOOK_ID, 'letters, digits, "_", ".", ":" or "-", up to 128'),
});

/** A validated webhook queue message. */
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/**
 * A deterministic webhook id for one event of one job with one payload: a producer that runs twice (a redelivered
 * step) enqueues the same id, so the receiver's dedupe drops the second copy.
 */
export function webhookIdFor(jobId: string, event: string, payload: unknown): string {
  const digest = createHash('sha256')
    .update(jobId)
    .update('\0')
    .update(event)
    .update('\0')
    .update(JSON.stringify(payload) ?? 'null')
    .digest('hex');
  return `wh_${digest.slice(0, 32)}`;
}

/**
 * The JSON body receivers get, identical on every attempt. The id is inside the signed body as well as in the
 * `Webhook-Id` header, so a receiver can dedupe on a value an attacker cannot change.
 */
export function webhookRequestBody(message: WebhookMessage): string {
  return JSON.stringify({ id: message.webhookId, event: message.event, jobId: message.jobId, data: message.payload });
}
