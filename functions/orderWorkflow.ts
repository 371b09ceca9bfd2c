import { app, type InvocationContext } from '@azure/functions';

import { deadLetterId } from '../shared/deadletters/deadLetterStore';
import { recordPoisonedMessage } from '../shared/deadletters/poisonMessages';
import { orderServices } from '../shared/orderServices';
import { asText } from '../shared/storage/entityValues';
import {
  type CompensateMessage,
  compensateMessageSchema,
  type StepMessage,
  stepMessageSchema,
} from '../shared/workflow/orderModel';
import { compensateOrder, runOrderStep } from '../shared/workflow/orderStepRunner';
import { superviseOrders } from '../shared/workflow/orderSupervisor';

const services = orderServices();
const { names, config } = services.app;
/** host.json extensions.queues.maxDequeueCount: deliveries before a message is poisoned. */
const MAX_DEQUEUE_COUNT = 5;
/** A normal order waits this long when high-priority orders are queued, in seconds. */
const PRIORITY_DEFER_SECONDS = 1;

/** A message that does not parse is permanent: no retry can fix it. Recorded as a dead letter at once. */
class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

function parseStep(message: unknown): StepMessage {
  const parsed = stepMessageSchema.safeParse(message);
  if (!parsed.success)
    throw new MalformedMessageError(`not an order step message: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

async function deadLetterMalformed(
  context: InvocationContext,
  queue: string,
  message: unknown,
  error: Error,
): Promise<void> {
  const metadata = context.triggerMetadata ?? {};
  const text = asText(metadata['queueTrigger'], typeof message === 'string' ? message : JSON.stringify(message));
  const { app: shared } = services;
  const { deadLetter: letter } = await shared.deadLetters.record({
    id: deadLetterId(
      asText(metadata['id'], context.invocationId),
      new Date(asText(metadata['insertionTime'], new Date().toISOString())),
      queue,
    ),
    source: { kind: 'queue', queue },
    body: text,
    dequeueCount: Number(metadata['dequeueCount'] ?? 1),
    error: { code: 'MALFORMED_MESSAGE', message: error.message },
    deadLetteredAt: new Date().toISOString(),
  });
  context.warn(`malformed message on ${queue} recorded as dead letter ${letter.id}`);
}

/** How long an empty high-priority queue is taken as empty, in ms: one depth read per instance per interval. */
const HIGH_PRIORITY_EMPTY_CACHE_MS = 1000;
let highPriorityEmptyUntil = 0;

/**
 * Whether high-priority orders wait. An empty answer is kept for a second, so a busy instance reads the queue's
 * depth about once a second rather than once per order (a queue's requests all count toward its 2,000/s); a
 * non-empty answer is never kept, so normal orders defer for as long as high ones wait.
 */
async function highPriorityWaiting(): Promise<boolean> {
  if (Date.now() < highPriorityEmptyUntil) return false;
  const waiting = await services.app.storage.queues
    .getQueueClient(names.queues.orderReserveHigh)
    .getProperties()
    .catch(() => undefined);
  const count = waiting?.approximateMessagesCount ?? 0;
  if (count === 0) highPriorityEmptyUntil = Date.now() + HIGH_PRIORITY_EMPTY_CACHE_MS;
  return count > 0;
}

function stepHandler(queue: string) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    await services.ready();
    let step: StepMessage;
    try {
      step = parseStep(message);
    } catch (error) {
      await deadLetterMalformed(context, queue, message, error as Error);
      return;
    }
    if (queue === names.queues.orderReserve && step.cause === 'start') {
      // Priority: normal orders start only while no high-priority order waits.
      if (await highPriorityWaiting()) {
        await services.sender.send(queue, step, { delaySeconds: PRIORITY_DEFER_SECONDS });
        context.log(`order ${step.jobId}: deferred behind high-priority orders`);
        return;
      }
    }
    const outcome = await runOrderStep({ ...services, log: (line) => context.log(line) }, step);
    context.log(`order ${step.jobId} ${step.step}: ${outcome}`);
  };
}

for (const [name, queue] of [
  ['orderReserveHigh', names.queues.orderReserveHigh],
  ['orderReserve', names.queues.orderReserve],
  ['orderPayment', names.queues.orderPayment],
  ['orderShipment', names.queues.orderShipment],
  ['orderEmail', names.queues.orderEmail],
] as const) {
  app.storageQueue(name, { queueName: queue, connection: 'AzureWebJobsStorage', handler: stepHandler(queue) });
}

app.storageQueue('orderCompensate', {
  queueName: names.queues.orderCompensate,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const parsed = compensateMessageSchema.safeParse(message);
    if (!parsed.success) {
      await deadLetterMalformed(
        context,
        names.queues.orderCompensate,
        message,
        new MalformedMessageError('not a compensation message'),
      );
      return;
    }
    const outcome = await compensateOrder(services, parsed.data);
    context.log(`order ${parsed.data.jobId} compensation: ${outcome}`);
  },
});

/**
 * Poison handlers: every workflow queue's `-poison` twin. The message goes to the dead-letter table with its body;
 * a poisoned step compensates the order (a poisoned compensation fails it: a person has to look).
 */
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
      const metadata = context.triggerMetadata ?? {};
      const text = asText(metadata['queueTrigger'], typeof message === 'string' ? message : JSON.stringify(message));
      const body = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
      const jobId = typeof body['jobId'] === 'string' ? body['jobId'] : undefined;
      const isCompensation = queue === names.queues.orderCompensate;
      const letter = await recordPoisonedMessage(
        services.app,
        {
          poisonQueue,
          messageId: asText(metadata['id'], context.invocationId),
          insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
          text,
        },
        { kind: 'queue', queue },
        jobId,
        MAX_DEQUEUE_COUNT,
        { failJob: isCompensation },
      );
      if (jobId && !isCompensation && (await services.jobs.get(jobId))) {
        const reason: CompensateMessage['reason'] = letter.error;
        await services.sender.send(names.queues.orderCompensate, { jobId, reason });
      }
      context.warn(`poisoned message from ${queue} recorded as dead letter ${letter.id}`);
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
