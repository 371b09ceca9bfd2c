import type { DeadLetter } from '../deadletters/deadLetterTypes';
import { type DeadLetterServices, type PoisonDelivery, recordPoisonedMessage } from '../deadletters/poisonMessages';

/** What a poisoned webhook message says about itself: its job and the attempt it failed on (1 when unsaid). */
export function poisonedWebhookFacts(message: unknown): { jobId: string | undefined; attempt: number } {
  const body = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
  return {
    jobId: typeof body['jobId'] === 'string' ? body['jobId'] : undefined,
    attempt: Number(body['attempt'] ?? 1),
  };
}

/**
 * Records a webhook that failed its last attempt (or failed for good) as a dead letter of the webhooks queue. The
 * job stays as it is: the job itself finished, only telling the caller failed.
 */
export async function recordPoisonedWebhook(
  services: DeadLetterServices,
  webhookQueue: string,
  delivery: PoisonDelivery,
  message: unknown,
): Promise<DeadLetter> {
  const { jobId, attempt } = poisonedWebhookFacts(message);
  return recordPoisonedMessage(services, delivery, { kind: 'queue', queue: webhookQueue }, jobId, attempt, {
    failJob: false,
  });
}
