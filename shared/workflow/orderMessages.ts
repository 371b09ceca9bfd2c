import { classifyFailure } from '../jobs/jobErrors';
import { decodeMessage } from '../jobs/jobMessages';
import { isTerminal } from '../jobs/jobTypes';
import type { QueueDelivery } from '../jobs/queueDelivery';
import { jobIdOf } from '../jobs/queueDelivery';
import { type CompensateMessage, compensateMessageSchema, type StepMessage, stepMessageSchema } from './orderModel';
import type { OrderServices } from './orderPorts';
import { compensateOrder, runOrderStep } from './orderStepRunner';

/** host.json extensions.queues.maxDequeueCount: deliveries before a message is poisoned. */
export const MAX_DEQUEUE_COUNT = 5;
/** A normal order waits this long when high-priority orders are queued, in seconds. */
const PRIORITY_DEFER_SECONDS = 1;
/**
 * Deferrals after which a normal order starts anyway, high-priority orders waiting or not: each is a second or more,
 * so a normal order waits at most about half a minute to a minute and a half, under the supervisor's step deadline
 * (120 s by default), which would otherwise re-drive it past the priority.
 */
export const MAX_PRIORITY_DEFERRALS = 30;

/** How long a look at the high-priority queue's depth is reused, in milliseconds. */
export const PRIORITY_PROBE_TTL_MS = 1000;

/**
 * Wraps the high-priority queue depth lookup so a busy host asks at most once per `ttlMs` (a queue operation per
 * normal order otherwise). A stale answer only delays a normal order by one deferral, or starts it up to `ttlMs`
 * after a high-priority order arrived.
 */
export function cachedDepth(lookup: () => Promise<number>, ttlMs = PRIORITY_PROBE_TTL_MS): () => Promise<number> {
  let cached: { at: number; depth: Promise<number> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at >= ttlMs) {
      const depth = lookup();
      cached = { at: now, depth };
      depth.catch(() => {
        cached = undefined;
      });
    }
    return cached.depth;
  };
}

export interface OrderMessageServices extends OrderServices {
  /** How many high-priority orders wait (approximately); consulted before a normal order starts. */
  highPriorityWaiting(): Promise<number>;
}

/**
 * One message from a step queue: decoded (a malformed one is a dead letter at once, never retried), held back
 * briefly when it would start a normal order while high-priority ones wait, then run. Returns a line for the log.
 */
export async function handleStepMessage(
  services: OrderMessageServices,
  delivery: QueueDelivery,
  message: unknown,
): Promise<string> {
  let step;
  try {
    step = decodeMessage(stepMessageSchema, message, 'an order step message');
  } catch (error) {
    const letter = await services.runtime.recordMalformed(delivery, classifyFailure(error).error.message);
    return `malformed message on ${delivery.queue} recorded as dead letter ${letter.id}`;
  }
  if (delivery.queue === services.queues.step.reserve && step.cause === 'start') {
    // Priority: normal orders start only while no high-priority order waits, and a bounded number of times.
    const deferrals = step.deferrals ?? 0;
    if (
      deferrals < MAX_PRIORITY_DEFERRALS &&
      (await services.highPriorityWaiting()) > 0 &&
      (deferrals === 0 || (await stillWaitingToStart(services, step.jobId)))
    ) {
      const deferred: StepMessage = { ...step, deferrals: deferrals + 1 };
      await services.sender.send(delivery.queue, deferred, { delaySeconds: PRIORITY_DEFER_SECONDS });
      return `order ${step.jobId}: deferred behind high-priority orders (${deferrals + 1}/${MAX_PRIORITY_DEFERRALS})`;
    }
  }
  const outcome = await runOrderStep(services, step);
  return `order ${step.jobId} ${step.step}: ${outcome}`;
}

/**
 * Whether a held-back order is still waiting to start. Its start message is the only thing that starts it normally,
 * but a supervisor re-drive (an order held past its step deadline), a cancel or a replay can start or end it while
 * the message circles; such a message is then a duplicate, and goes to the step runner (which skips or passes it on)
 * rather than round the queue again. Not asked on the first deferral: a start message is that fresh.
 */
async function stillWaitingToStart(services: OrderServices, jobId: string): Promise<boolean> {
  const job = await services.runtime.readAny(jobId);
  return job?.status === 'queued' && job.data['cancelRequested'] !== true;
}

export async function handleCompensateMessage(
  services: OrderServices,
  delivery: QueueDelivery,
  message: unknown,
): Promise<string> {
  let compensation;
  try {
    compensation = decodeMessage(compensateMessageSchema, message, 'a compensation message');
  } catch (error) {
    const letter = await services.runtime.recordMalformed(delivery, classifyFailure(error).error.message);
    return `malformed message on ${delivery.queue} recorded as dead letter ${letter.id}`;
  }
  const outcome = await compensateOrder(services, compensation);
  return `order ${compensation.jobId} compensation: ${outcome}`;
}

/**
 * A message from a workflow queue's `-poison` twin: recorded as a dead letter with its body; a poisoned step
 * compensates its order (the dead letter can be replayed afterwards); a poisoned compensation fails the order,
 * because a person has to look, and tells its caller so.
 */
export async function handlePoisonedOrderMessage(
  services: OrderServices,
  sourceQueue: string,
  delivery: QueueDelivery,
  message: unknown,
): Promise<string> {
  const jobId = jobIdOf(message);
  const isCompensation = sourceQueue === services.queues.compensate;
  const letter = await services.runtime.recordPoison(
    {
      poisonQueue: delivery.queue,
      messageId: delivery.messageId,
      insertedAt: delivery.insertedAt,
      text: delivery.text,
    },
    { kind: 'queue', queue: sourceQueue },
    jobId,
    MAX_DEQUEUE_COUNT,
    { failJob: isCompensation },
  );
  if (jobId && !isCompensation && letter.jobId) {
    const reason: CompensateMessage['reason'] = letter.error;
    await services.sender.send(services.queues.compensate, { jobId, reason });
  }
  if (jobId && isCompensation && letter.jobId) {
    // The order ended `failed` here, and its caller must hear so (unless it was told already: that answer stands).
    // If this process dies first, the poison message comes again, and finds the order failed and untold.
    const failed = await services.runtime.readAny(jobId);
    if (failed && isTerminal(failed.status)) await services.notifyCompletion(failed);
  }
  return `poisoned message from ${sourceQueue} recorded as dead letter ${letter.id}`;
}
