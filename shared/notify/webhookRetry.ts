/**
 * When a failed webhook is tried again: exponential backoff with jitter, never shorter than the receiver's
 * `Retry-After`, in whole seconds because a queue message's initial visibility is set in seconds.
 */

/** Retry settings for webhook deliveries. */
export interface WebhookRetrySchedule {
  /** Deliveries attempted at most, the first included (default 6; not a setting). */
  maxAttempts: number;
  /** Delay after the first failure, in milliseconds; doubled after each further failure (default 2 000). */
  baseDelayMs: number;
  /** Longest delay between two attempts, in milliseconds (default 5 minutes). */
  maxDelayMs: number;
  /** Fraction of each delay that is random, so many webhooks failing together do not retry together (0..1). */
  jitterRatio: number;
}

const SECOND_MS = 1000;
/** A queue message can stay invisible for 7 days at most. */
export const MAX_QUEUE_VISIBILITY_DELAY_MS = 7 * 24 * 60 * 60 * SECOND_MS;

export const DEFAULT_WEBHOOK_RETRY: WebhookRetrySchedule = {
  maxAttempts: 6,
  baseDelayMs: 2 * SECOND_MS,
  maxDelayMs: 5 * 60 * SECOND_MS,
  jitterRatio: 0.2,
};

/**
 * Delay before the attempt after `failedAttempt` (1 for the first delivery), in milliseconds, rounded up to whole
 * seconds: `baseDelayMs · 2^(failedAttempt-1)`, capped, minus up to `jitterRatio` of it at random, and at least the
 * receiver's `retryAfterMs` (itself capped).
 */
export function webhookRetryDelayMs(
  failedAttempt: number,
  schedule: WebhookRetrySchedule,
  retryAfterMs: number | undefined = undefined,
  random: () => number = Math.random,
): number {
  const cap = Math.min(schedule.maxDelayMs, MAX_QUEUE_VISIBILITY_DELAY_MS);
  const exponential = Math.min(cap, schedule.baseDelayMs * 2 ** Math.max(0, failedAttempt - 1));
  const jittered = exponential * (1 - schedule.jitterRatio * random());
  const wanted = Math.min(cap, Math.max(jittered, retryAfterMs ?? 0));
  return Math.max(SECOND_MS, Math.ceil(wanted / SECOND_MS) * SECOND_MS);
}
