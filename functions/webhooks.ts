import { app } from '@azure/functions';

import { recordPoisonedMessage } from '../shared/deadletters/poisonMessages';
import { webhookPolicy } from '../shared/notify/webhookPolicy';
import { handleWebhookMessage } from '../shared/notify/webhookQueue';
import { DEFAULT_WEBHOOK_RETRY } from '../shared/notify/webhookRetry';
import { orderServices } from '../shared/orderServices';
import { asText } from '../shared/storage/entityValues';

const services = orderServices();
const { names, storage } = services.app;
const queue = names.queues.webhooks;
const poisonQueue = `${queue}-poison`;

/**
 * Webhook delivery from its own queue: signed, re-checked against the target policy on every attempt (redirects
 * included), retried with backoff by re-enqueueing, and dead-lettered after the last attempt.
 */
app.storageQueue('webhookDelivery', {
  queueName: queue,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const settings = webhookPolicy();
    const outcome = await handleWebhookMessage(message, {
      queue: storage.queues.getQueueClient(queue),
      poisonQueue: storage.queues.getQueueClient(poisonQueue),
      delivery: { policy: settings.target, signingSecret: settings.signingSecret ?? '' },
      retry: DEFAULT_WEBHOOK_RETRY,
      recordJobEvent: async (jobId, event) => {
        if (await services.jobs.get(jobId)) {
          await services.jobs.appendEvent(jobId, {
            kind: event.type,
            message: `${event.event} attempt ${event.attempt}`,
          });
        }
      },
      warn: (line) => context.warn(line),
    });
    context.log(`webhook ${outcome.webhookId ?? '(invalid)'}: ${outcome.outcome}`);
  },
});

app.storageQueue('webhookPoison', {
  queueName: poisonQueue,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const metadata = context.triggerMetadata ?? {};
    const body = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    const letter = await recordPoisonedMessage(
      services.app,
      {
        poisonQueue,
        messageId: asText(metadata['id'], context.invocationId),
        insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
        text: asText(metadata['queueTrigger'], JSON.stringify(message)),
      },
      { kind: 'queue', queue },
      typeof body['jobId'] === 'string' ? body['jobId'] : undefined,
      Number(body['attempt'] ?? 1),
      { failJob: false }, // the job itself finished; only telling the caller failed
    );
    context.warn(`webhook dead-lettered as ${letter.id}`);
  },
});
