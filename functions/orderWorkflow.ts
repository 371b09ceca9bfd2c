import { app } from '@azure/functions';

import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { orderServices } from '../shared/orderServices';
import {
  handleCompensateMessage,
  handlePoisonedOrderMessage,
  handleStepMessage,
} from '../shared/workflow/orderMessages';
import { orderMessageServices, superviseOrdersNow, supervisorLogLine } from '../shared/workflow/orderQueueServices';

const services = orderServices();
const { names, config } = services.app;
const messageServices = orderMessageServices(services);

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
    const line = supervisorLogLine(await superviseOrdersNow(services));
    if (line) context.log(line);
  },
});
