import { classifyFailure } from '../jobs/jobErrors';
import type { JobStore } from '../jobs/jobStore';
import { isTerminal, type Job, type JobError } from '../jobs/jobTypes';
import type { ConfirmationSender } from '../orders/confirmationEmail';
import type { InventoryStore } from '../orders/inventoryStore';
import type { PaymentGateway } from '../orders/paymentGateway';
import type { ShippingService } from '../orders/shippingService';
import {
  type CompensateMessage,
  effectKey,
  nextStep,
  ORDER_STEPS,
  type OrderData,
  orderDataSchema,
  type OrderStep,
  stepIndex,
  type StepMessage,
} from './orderModel';
import type { QueueSender } from './queueSender';

/** Queue names of the workflow (with the resource prefix applied). */
export interface OrderQueues {
  step: Record<OrderStep, string>;
  /** High-priority orders start here; the reserve step drains it before the normal start queue. */
  reserveHigh: string;
  compensate: string;
}

export interface OrderServices {
  jobs: JobStore;
  inventory: InventoryStore;
  payments: PaymentGateway;
  shipping: ShippingService;
  email: ConfirmationSender;
  queues: OrderQueues;
  sender: QueueSender;
  /** Tells the caller the outcome (reply queue, webhook) once the job is terminal. */
  notifyCompletion(job: Job): Promise<void>;
  /** A progress milestone (a step done), for callers with a webhook. */
  notifyProgress(job: Job): Promise<void>;
  log(message: string): void;
}

function errorOf(error: unknown): JobError {
  return classifyFailure(error).error;
}

export function orderDataOf(job: Job): OrderData {
  return orderDataSchema.parse(job.data);
}

function progressFor(step: OrderStep, doneCount: number, message: string) {
  const total = ORDER_STEPS.length;
  return { step, index: doneCount, total, percent: Math.round((doneCount / total) * 100), message };
}

async function runEffect(
  services: OrderServices,
  job: Job,
  data: OrderData,
  step: OrderStep,
): Promise<Record<string, unknown>> {
  const key = effectKey(job.id, data);
  switch (step) {
    case 'reserve':
      await services.inventory.reserve(key, data.lines);
      return { reserved: data.lines.map((l) => ({ sku: l.sku, quantity: l.quantity })) };
    case 'payment': {
      const charge = await services.payments.charge(key, data.totalCents, data.card);
      return { charge: { chargeId: charge.chargeId, amountCents: charge.amountCents, cardLast4: charge.cardLast4 } };
    }
    case 'shipment': {
      const shipment = await services.shipping.createShipment(key, data.address);
      return { shipment: { trackingNumber: shipment.trackingNumber, carrier: shipment.carrier } };
    }
    case 'email': {
      // The shipment step recorded its tracking number on the job; read the carrier only for a job without it.
      const recorded = (job.result?.['shipment'] as { trackingNumber?: unknown } | undefined)?.trackingNumber;
      const trackingNumber =
        typeof recorded === 'string' ? recorded : (await services.shipping.get(key))?.trackingNumber;
      const outcome = await services.email.send({
        orderId: key,
        to: data.customer,
        lines: data.lines,
        totalCents: data.totalCents,
        trackingNumber: trackingNumber ?? 'unknown',
      });
      return { email: { state: outcome === 'already-sent' ? 'sent' : outcome } };
    }
    default: {
      const never: never = step;
      throw new Error(`unknown step ${String(never)}`);
    }
  }
}

async function undoEffect(
  services: OrderServices,
  job: Job,
  data: OrderData,
  step: OrderStep,
  reason: string,
): Promise<void> {
  const key = effectKey(job.id, data);
  switch (step) {
    case 'reserve':
      await services.inventory.release(key, data.lines);
      return;
    case 'payment':
      await services.payments.refund(key, reason);
      return;
    case 'shipment':
      await services.shipping.voidShipment(key);
      return;
    case 'email':
      return; // a sent email cannot be unsent; the cancellation status tells the caller
    default: {
      const never: never = step;
      throw new Error(`unknown step ${String(never)}`);
    }
  }
}

async function requestCompensation(
  services: OrderServices,
  jobId: string,
  reason: JobError,
  cancellation = false,
): Promise<void> {
  const message: CompensateMessage = { jobId, reason, ...(cancellation ? { cancellation } : {}) };
  await services.sender.send(services.queues.compensate, message);
}

/**
 * Runs one step of one order. Safe under at-least-once delivery: a step the checkpoint shows as done is passed on,
 * not repeated; a message for a step whose predecessor is not done is dropped (the predecessor hands on); every
 * effect is idempotent per order; the checkpoint advances with an ETag-conditional write.
 */
export async function runOrderStep(services: OrderServices, message: StepMessage): Promise<string> {
  const job = await services.jobs.get(message.jobId);
  if (!job) return 'unknown-job';
  if (isTerminal(job.status) || job.status === 'compensating') return `skipped (${job.status})`;
  let data: OrderData;
  try {
    data = orderDataOf(job);
  } catch (error) {
    await services.jobs.update(job.id, () => ({
      error: { code: 'MALFORMED_ORDER', message: errorOf(error).message },
    }));
    await requestCompensation(services, job.id, { code: 'MALFORMED_ORDER', message: 'the order record is unreadable' });
    return 'malformed';
  }
  if (data.cancelRequested) return 'cancel-pending';
  const step = message.step;
  const index = stepIndex(step);
  if (data.done.includes(step)) {
    // Done before (a duplicate, or a crash after the checkpoint): pass it on so the workflow cannot stall.
    const next = nextStep(data.done);
    if (next) await services.sender.send(services.queues.step[next], { jobId: job.id, step: next, cause: 'next' });
    return 'already-done';
  }
  const previous = ORDER_STEPS[index - 1];
  if (previous && !data.done.includes(previous)) {
    // Normally the earlier step hands on. A job reset to `queued` (a replay) has none in flight: start it again.
    const pending = nextStep(data.done);
    if (job.status === 'queued' && pending) {
      await services.sender.send(services.queues.step[pending], { jobId: job.id, step: pending, cause: 'replay' });
    }
    return 'out-of-order';
  }

  await services.jobs.update(job.id, () => ({
    status: 'running',
    attemptsIncrement: 1,
    progress: progressFor(step, data.done.length, `${step} started`),
    event: {
      kind: 'step-started',
      message: `${step} started${message.cause === 'redrive' ? ' (re-driven by the supervisor)' : ''}`,
    },
  }));
  let result: Record<string, unknown>;
  try {
    result = await runEffect(services, job, data, step);
  } catch (error) {
    const { permanent, error: failure } = classifyFailure(error);
    if (!permanent) {
      await services.jobs.update(job.id, () => ({
        error: failure,
        event: { kind: 'step-failed', message: `${step}: ${failure.code}: ${failure.message}` },
      }));
      throw error; // the queue retries; after maxDequeueCount the poison handler compensates
    }
    await services.jobs.update(job.id, () => ({
      error: failure,
      event: { kind: 'step-failed', message: `${step} failed for good: ${failure.code}` },
    }));
    await requestCompensation(services, job.id, failure);
    return `failed (${failure.code})`;
  }

  let raced = false;
  const updated = await services.jobs.update(job.id, (current) => {
    const currentData = orderDataSchema.parse(current.data);
    if (currentData.done.includes(step)) return undefined;
    raced = isTerminal(current.status) || current.status === 'compensating' || currentData.cancelRequested === true;
    const done = [...currentData.done, step];
    const finished = nextStep(done) === undefined && !raced;
    return {
      data: { done },
      result: { ...(current.result ?? {}), ...result },
      progress: progressFor(step, done.length, `${step} done`),
      event: { kind: 'step-done', message: `${step} done`, data: result },
      ...(finished ? { status: 'succeeded' as const, error: null } : {}),
    };
  });
  if (raced) {
    // Cancelled or compensated while the effect ran: undo this step too (compensation is idempotent).
    await requestCompensation(services, job.id, updated.error ?? { code: 'CANCELLED', message: 'cancelled' }, true);
    return 'raced-with-compensation';
  }
  const next = nextStep(orderDataOf(updated).done);
  await services.notifyProgress(updated);
  if (next) {
    await services.sender.send(services.queues.step[next], { jobId: job.id, step: next, cause: 'next' });
  } else if (updated.status === 'succeeded') {
    await services.notifyCompletion(updated);
  }
  return 'done';
}

/**
 * Undoes the completed steps of an order in reverse (refund, release stock, void the shipment). Idempotent: each undo
 * is, and the list of undone steps is kept on the job. Ends `cancelled` for a cancellation, `compensated` when
 * something was undone, `failed` when nothing had to be.
 */
export async function compensateOrder(services: OrderServices, message: CompensateMessage): Promise<string> {
  const job = await services.jobs.get(message.jobId);
  if (!job) return 'unknown-job';
  let data: OrderData | undefined;
  try {
    data = orderDataOf(job);
  } catch {
    data = undefined;
  }
  const done = data?.done ?? [];
  const cancellation = message.cancellation === true || data?.cancelRequested === true;
  if (isTerminal(job.status) && done.every((step) => data?.undone.includes(step) || step === 'email')) {
    return `already ${job.status}`;
  }
  await services.jobs.update(job.id, (current) =>
    current.status === 'compensating'
      ? undefined
      : {
          status: 'compensating',
          reopen: isTerminal(current.status),
          event: { kind: 'compensating', message: `undoing ${done.join(', ') || 'nothing'}: ${message.reason.code}` },
        },
  );
  if (data) {
    for (const step of [...done].reverse()) {
      if (data.undone.includes(step)) continue;
      await undoEffect(services, job, data, step, message.reason.message);
      await services.jobs.update(job.id, (current) => {
        const undone = orderDataSchema.parse(current.data).undone;
        return undone.includes(step)
          ? undefined
          : { data: { undone: [...undone, step] }, event: { kind: 'step-undone', message: `${step} undone` } };
      });
    }
  }
  const undoable = done.filter((step) => step !== 'email');
  const finalStatus = cancellation ? 'cancelled' : undoable.length > 0 ? 'compensated' : 'failed';
  const finished = await services.jobs.update(job.id, () => ({
    status: finalStatus,
    error: cancellation ? { code: 'CANCELLED', message: 'the order was cancelled' } : message.reason,
    event: { kind: finalStatus, message: `${finalStatus}: ${message.reason.code}` },
  }));
  await services.notifyCompletion(finished);
  return finalStatus;
}
