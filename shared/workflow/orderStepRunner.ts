import { classifyFailure, PermanentJobError } from '../jobs/jobErrors';
import { isTerminal, type Job, type JobError, type NewJobEvent } from '../jobs/jobTypes';
import { orderJob, type OrderResult } from './orderJob';
import {
  type CompensateMessage,
  effectKey,
  nextStep,
  ORDER_STEPS,
  type OrderData,
  type OrderStep,
  stepIndex,
  type StepMessage,
} from './orderModel';
import type { OrderServices } from './orderPorts';

export type { OrderQueues, OrderServices } from './orderPorts';

type OrderJob = Job<OrderData, OrderResult>;

function progressFor(step: OrderStep, doneCount: number, message: string) {
  const total = ORDER_STEPS.length;
  return { step, index: doneCount, total, percent: Math.round((doneCount / total) * 100), message };
}

async function runEffect(services: OrderServices, job: OrderJob, step: OrderStep): Promise<Partial<OrderResult>> {
  const data = job.data;
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
      // The shipment step put its tracking number in the result; the shipment record is the fallback.
      const trackingNumber =
        job.result?.shipment?.trackingNumber ?? (await services.shipping.get(key))?.trackingNumber ?? 'unknown';
      const outcome = await services.email.send({
        orderId: key,
        to: data.customer,
        lines: data.lines,
        totalCents: data.totalCents,
        trackingNumber,
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
  job: OrderJob,
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

/** Reads the order, typed; a record whose data no longer parses is `malformed` (it is compensated, not retried). */
async function readOrder(
  services: OrderServices,
  jobId: string,
): Promise<{ job: OrderJob } | { malformed: JobError } | undefined> {
  try {
    const job = await services.runtime.read(orderJob, jobId);
    return job ? { job } : undefined;
  } catch (error) {
    if (error instanceof PermanentJobError) return { malformed: { code: 'MALFORMED_ORDER', message: error.message } };
    throw error;
  }
}

/**
 * Runs one step of one order. Safe under at-least-once delivery: a step the checkpoint shows as done is passed on,
 * not repeated; a message for a step whose predecessor is not done is dropped (the predecessor hands on); every
 * effect is idempotent per order; the checkpoint advances with an ETag-conditional write.
 *
 * Storage: one read of the job, the effect, and one write that saves the checkpoint with the step's start and end
 * on the timeline — only the first step of a queued order writes `running` before its effect, so callers see it
 * start. A failure is one write (and the step's timeline entries ride on it).
 */
export async function runOrderStep(services: OrderServices, message: StepMessage): Promise<string> {
  const read = await readOrder(services, message.jobId);
  if (!read) return 'unknown-job';
  if ('malformed' in read) {
    await services.runtime.recordError(message.jobId, read.malformed);
    await requestCompensation(services, message.jobId, {
      code: 'MALFORMED_ORDER',
      message: 'the order record is unreadable',
    });
    return 'malformed';
  }
  let job = read.job;
  const data = job.data;
  if (isTerminal(job.status) || job.status === 'compensating') return `skipped (${job.status})`;
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

  const started: NewJobEvent = {
    kind: 'step-started',
    message: `${step} started${message.cause === 'redrive' ? ' (re-driven by the supervisor)' : ''}`,
    at: new Date().toISOString(),
  };
  let pendingStart: NewJobEvent[] = [started];
  if (job.status === 'queued') {
    job = await services.runtime.update(
      orderJob,
      job.id,
      () => ({
        status: 'running',
        attemptsIncrement: 1,
        progress: progressFor(step, data.done.length, `${step} started`),
        event: started,
      }),
      job,
    );
    pendingStart = [];
  }
  const attemptsIncrement = pendingStart.length > 0 ? 1 : 0;
  let result: Partial<OrderResult>;
  try {
    result = await runEffect(services, job, step);
  } catch (error) {
    const { permanent, error: failure } = classifyFailure(error);
    await services.runtime.update(
      orderJob,
      job.id,
      () => ({
        error: failure,
        attemptsIncrement,
        events: pendingStart,
        event: {
          kind: 'step-failed',
          message: permanent
            ? `${step} failed for good: ${failure.code}`
            : `${step}: ${failure.code}: ${failure.message}`,
        },
      }),
      job,
    );
    if (!permanent) throw error; // the queue retries; after maxDequeueCount the poison handler compensates
    await requestCompensation(services, job.id, failure);
    return `failed (${failure.code})`;
  }

  let raced = false;
  const updated = await services.runtime.update(
    orderJob,
    job.id,
    (current) => {
      if (current.data.done.includes(step)) return undefined;
      raced = isTerminal(current.status) || current.status === 'compensating' || current.data.cancelRequested === true;
      const done = [...current.data.done, step];
      const finished = nextStep(done) === undefined && !raced;
      return {
        data: { done },
        result,
        attemptsIncrement,
        progress: progressFor(step, done.length, `${step} done`),
        events: pendingStart,
        event: { kind: 'step-done', message: `${step} done`, data: result },
        ...(finished ? { status: 'succeeded' as const, error: null } : {}),
      };
    },
    job,
  );
  if (raced) {
    // Cancelled or compensated while the effect ran: undo this step too (compensation is idempotent).
    await requestCompensation(services, job.id, updated.error ?? { code: 'CANCELLED', message: 'cancelled' }, true);
    return 'raced-with-compensation';
  }
  const next = nextStep(updated.data.done);
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
  const raw = await services.runtime.read(orderJob, message.jobId).catch((error: unknown) => {
    if (error instanceof PermanentJobError) return 'malformed' as const;
    throw error;
  });
  if (raw === undefined) {
    return 'unknown-job';
  }
  const job = raw === 'malformed' ? undefined : raw;
  const data = job?.data;
  const done = data?.done ?? [];
  const cancellation = message.cancellation === true || data?.cancelRequested === true;
  if (!job) {
    // The record no longer parses: nothing can be undone by it, but the order must still end.
    const failed = await services.runtime.recordError(message.jobId, message.reason, { fail: true });
    if (failed) await services.notifyCompletion(failed);
    return 'failed';
  }
  if (isTerminal(job.status) && done.every((step) => data?.undone.includes(step) || step === 'email')) {
    return `already ${job.status}`;
  }
  let current = await services.runtime.update(
    orderJob,
    job.id,
    (latest) =>
      latest.status === 'compensating'
        ? undefined
        : {
            status: 'compensating',
            reopen: isTerminal(latest.status),
            event: { kind: 'compensating', message: `undoing ${done.join(', ') || 'nothing'}: ${message.reason.code}` },
          },
    job,
  );
  if (data) {
    for (const step of [...done].reverse()) {
      if (data.undone.includes(step)) continue;
      await undoEffect(services, job, data, step, message.reason.message);
      current = await services.runtime.update(
        orderJob,
        job.id,
        (latest) =>
          latest.data.undone.includes(step)
            ? undefined
            : {
                data: { undone: [...latest.data.undone, step] },
                event: { kind: 'step-undone', message: `${step} undone` },
              },
        current,
      );
    }
  }
  const undoable = done.filter((step) => step !== 'email');
  const finalStatus = cancellation ? 'cancelled' : undoable.length > 0 ? 'compensated' : 'failed';
  const finished = await services.runtime.update(
    orderJob,
    job.id,
    () => ({
      status: finalStatus,
      error: cancellation ? { code: 'CANCELLED', message: 'the order was cancelled' } : message.reason,
      event: { kind: finalStatus, message: `${finalStatus}: ${message.reason.code}` },
    }),
    current,
  );
  await services.notifyCompletion(finished);
  return finalStatus;
}
