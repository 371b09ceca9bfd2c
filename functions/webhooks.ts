import { app } from '@azure/functions';

import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { recordPoisonedWebhook } from '../shared/notify/webhookPoison';
import { handleWebhookMessage } from '../shared/notify/webhookQueue';
import { webhookQueueDependencies } from '../shared/notify/webhookQueueServices';
import { orderServices } from '../shared/orderServices';

const services = orderServices();
const queue = services.app.names.queues.webhooks;
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
    const outcome = await handleWebhookMessage(
      message,
      webhookQueueDependencies(services, (line) => context.warn(line)),
    );
    context.log(`webhook ${outcome.webhookId ?? '(invalid)'}: ${outcome.outcome}`);
  },
});

app.storageQueue('webhookPoison', {
  queueName: poisonQueue,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const { messageId, insertedAt, text } = queueDeliveryOf(context, poisonQueue, message);
    const letter = await recordPoisonedWebhook(
      services.app,
      queue,
      { poisonQueue, messageId, insertedAt, text },
      message,
    );
    context.warn(`webhook dead-lettered as ${letter.id}`);
  },
});
