import { app } from '@azure/functions';

import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { orderServices } from '../shared/orderServices';
import {
  cachedDepth,
  handleCompensateMessage,
  handlePoisonedOrderMessage,
  handleStepMessage,
  type OrderMessageServices,
} from '../shared/workflow/orderMessages';
import { superviseOrders } from '../shared/workflow/orderSupervisor';

const services = orderServices();
const { names, config } = services.app;
const messageServices: OrderMessageServices = {
  ...services,
  highPriorityWaiting: cachedDepth(async () => {
    const waiting = await services.app.storage.queues
      .getQueueClient(names.queues.orderReserveHigh)
      .getProperties()
      .catch(() => undefined);
    return waiting?.approximateMessagesCount ?? 0;
  }),
};

for (const [name, queue] of [
  ['orderReserveHigh', names.queues.orderReserveHigh],
  ['orderReserve', names.queues.orderReserve],
  ['orderPayment', names.queues.orderPayment],
  ['orderShipment', names.queues.orderShipment],
  ['orderEmail', names.queues.orderEmail],
] as const) {
  app.storageQueue(name, {
    queueName: queue,
    connection: 'AzureWebJobsStorage',
    handler: async (message, context) => {
      await services.ready();
      context.log(await handleStepMessage(messageServices, queueDeliveryOf(context, queue, message), message));
    },
  });
}

app.storageQueue('orderCompensate', {
  queueName: names.queues.orderCompensate,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const delivery = queueDeliveryOf(context, names.queues.orderCompensate, message);
    context.log(await handleCompensateMessage(services, delivery, message));
  },
});

/** Poison handlers: every workflow queue's `-poison` twin (see handlePoisonedOrderMessage). */
for (const queue of [
  names.queues.orderReserveHigh,
  names.queues.orderReserve,
  names.queues.orderPayment,
  names.queues.orderShipment,
  names.queues.orderEmail,
  names.queues.orderCompensate,
]) {
  const poisonQueue = `${queue}-poison`;
  app.storageQueue(`poison-${queue.replace(/[^a-z0-9]/g, '')}`.slice(0, 60), {
    queueName: poisonQueue,
    connection: 'AzureWebJobsStorage',
    handler: async (message, context) => {
      await services.ready();
      const delivery = queueDeliveryOf(context, poisonQueue, message);
      context.warn(await handlePoisonedOrderMessage(services, queue, delivery, message));
    },
  });
}

app.timer('orderSupervisor', {
  schedule: config.orders.supervisorSchedule,
  handler: async (_timer, context) => {
    await services.ready();
    const report = await superviseOrders(services, {
      stepDeadlineMs: config.orders.stepDeadlineMs,
      maxRedrives: config.orders.maxRedrives,
    });
    if (report.redriven.length > 0 || report.gaveUp.length > 0) {
      context.log(
        `supervisor: ${report.examined} in flight, re-drove ${report.redriven.join(', ') || 'none'}, gave up on ${report.gaveUp.join(', ') || 'none'}`,
      );
    }
  },
});
