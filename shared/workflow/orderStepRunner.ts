import { classifyFailure, PermanentJobError } from '../jobs/jobErrors';
import type { RuntimeJobUpdate } from '../jobs/jobRuntime';
import { isTerminal, type Job, type JobError, type NewJobEvent } from '../jobs/jobTypes';
import { notificationOwed, owesNotification } from './completionNotifier';
import { orderJob, type OrderResult } from './orderJob';
import {
  type CompensateMessage,
  effectKey,
  nextStep,
  ORDER_STEPS,
  type OrderData,
  type OrderStep,
  reopenOrderData,
  stepIndex,
  type StepMessage,
} from './orderModel';
import type { OrderServices } from './orderPorts';

export type { OrderQueues, OrderServices } from './orderPorts';

type OrderJob = Job<OrderData, OrderResult>;
type OrderJobUpdate = RuntimeJobUpdate<OrderData, OrderResult>;

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

/** Why a step must not start or hand on: the order is being undone, has ended, or its caller asked to cancel. */
function haltReason(job: OrderJob): string | undefined {
  if (isTerminal(job.status) || job.status === 'compensating') return `skipped (${job.status})`;
  if (job.data.cancelRequested) return 'cancel-pending';
  return undefined;
}

/**
 * A message delivered again for an order that has ended: the process that ended it may have died before the
 * completion port ran (the sales fact and the caller's notification follow the ending write, outside it), so the
 * port runs again. It is safe to: the sales fact is keyed by the order and ordered by its ends (a repeat writes
 * nothing, and a message that read an end since superseded by a reopen cannot overwrite the later fact), and the
 * notifier sends only while the caller is not marked told (`notifyOwed`, the outbox). Only such a message pays (an
 * insert refused, and a read of the row); the normal path ends an order and runs the port once. Returns the outcome,
 * with a note when it told the caller.
 */
async function completeAgain(services: OrderServices, job: OrderJob, outcome: string): Promise<string> {
  if (!isTerminal(job.status)) return outcome; // compensating: its compensation ends it and runs the port
  if (job.status !== 'succeeded' && stepsToUndo(job.data).length > 0) {
    // A step that finished after the order ended is written done, then its undo is asked for: a process that died
    // in between left an ended order holding an effect (a charge) that nothing else would ever undo (the supervisor
    // watches only orders in flight). Ask again; compensation reopens the order, undoes it and keeps its outcome.
    await requestCompensation(
      services,
      job.id,
      job.error ?? { code: 'STEP_AFTER_COMPENSATION', message: 'a step finished after the order ended' },
      job.data.cancelRequested === true,
    );
    return `${outcome}, compensation asked again`;
  }
  // The listing row, too, follows the ending write: one read here, and a write only when that process died first.
  await services.runtime.ensureListed(job);
  const owed = notificationOwed(job);
  await services.notifyCompletion(job);
  return owed ? `${outcome}, owed notification sent` : outcome;
}

/** Done steps whose effect is still to undo, latest first (a sent email cannot be unsent: it is never one). */
function stepsToUndo(data: OrderData): OrderStep[] {
  return data.done.filter((step) => step !== 'email' && !data.undone.includes(step)).reverse();
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
  const halted = haltReason(job);
  if (halted) return completeAgain(services, job, halted);
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
    // Conditional on the order still being wanted: a compensation or a cancel request that landed since the read
    // must not be overwritten by `running` (nor the effect started).
    let halted: string | undefined;
    job = await services.runtime.update(
      orderJob,
      job.id,
      (current) => {
        halted = haltReason(current);
        if (halted) return undefined;
        return {
          status: 'running',
          attemptsIncrement: 1,
          progress: progressFor(step, data.done.length, `${step} started`),
          event: started,
        };
      },
      job,
    );
    if (halted) return halted;
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
      raced = false;
      if (current.data.done.includes(step)) return undefined;
      raced = haltReason(current) !== undefined;
      const done = [...current.data.done, step];
      const finished = nextStep(done) === undefined && !raced;
      return {
        // Ending it records the caller's notification as owed in the same write (the outbox; cleared once told).
        data: { done, ...(finished && owesNotification(current) ? { notifyOwed: true } : {}) },
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
    // Compensated or cancelled while the effect ran: the step is on the record as done, so it is undone too. A
    // compensation still running sees it (its last write looks for steps done meanwhile); one that already ended
    // did not, and is asked again. Only the caller's own cancel request makes it a cancellation.
    if (isTerminal(updated.status)) {
      await requestCompensation(
        services,
        job.id,
        updated.error ?? { code: 'STEP_AFTER_COMPENSATION', message: `${step} finished after the order ended` },
        updated.data.cancelRequested === true,
      );
    }
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
 * is, and the list of undone steps is kept on the job. Ends `cancelled` when the caller asked to cancel,
 * `compensated` when something was undone, `failed` when nothing had to be; an order that ended and was announced
 * keeps the outcome its caller was told when a step that finished late is undone afterwards.
 *
 * Safe against a step that finishes while it runs (the supervisor gives up on slow steps, not only on lost ones):
 * the steps to undo are taken from the job as the `compensating` write left it (a step that lands later sees the
 * order compensating and leaves it alone), and the final write is conditional on no step having landed in between,
 * undoing any that did first. A `succeeded` order is never undone: it reached its end before compensation began.
 */
export async function compensateOrder(services: OrderServices, message: CompensateMessage): Promise<string> {
  const raw = await services.runtime.read(orderJob, message.jobId).catch((error: unknown) => {
    if (error instanceof PermanentJobError) return 'malformed' as const;
    throw error;
  });
  if (raw === undefined) {
    return 'unknown-job';
  }
  if (raw === 'malformed') {
    // The record no longer parses: nothing can be undone by it, but the order must still end.
    const failed = await services.runtime.recordError(message.jobId, message.reason, { fail: true });
    if (failed) await services.notifyCompletion(failed);
    return 'failed';
  }
  let settled: string | undefined;
  let current = await services.runtime.update(
    orderJob,
    raw.id,
    (latest) => {
      settled = undefined;
      if (latest.status === 'compensating') return undefined; // another compensation started it; finish it too
      if (latest.status === 'succeeded' || (isTerminal(latest.status) && stepsToUndo(latest.data).length === 0)) {
        settled = latest.status;
        return undefined;
      }
      const undo = stepsToUndo(latest.data);
      const reopen = isTerminal(latest.status);
      return {
        status: 'compensating',
        reopen,
        // Reopening an ended order counts in the same write: its next end's sales fact wins over this end's, and
        // supersedes this end's row if it ends on another day.
        ...(reopen ? { data: reopenOrderData(latest.data, latest.completedAt) } : {}),
        event: { kind: 'compensating', message: `undoing ${undo.join(', ') || 'nothing'}: ${message.reason.code}` },
      };
    },
    raw,
  );
  if (settled) return completeAgain(services, current, `already ${settled}`);

  for (;;) {
    for (const step of stepsToUndo(current.data)) {
      await undoEffect(services, current, current.data, step, message.reason.message);
      current = await services.runtime.update(
        orderJob,
        current.id,
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
    // Set by the (possibly retried) change below; typed wide so the checks after it are not narrowed away.
    let outcome = 'ended' as 'ended' | 'more-to-undo' | 'ended-elsewhere';
    const finished = await services.runtime.update(
      orderJob,
      current.id,
      (latest) => {
        if (latest.status !== 'compensating') {
          outcome = 'ended-elsewhere'; // a compensation running beside this one ended it (and told the caller)
          return undefined;
        }
        if (stepsToUndo(latest.data).length > 0) {
          outcome = 'more-to-undo'; // a step finished meanwhile: undo it before ending
          return undefined;
        }
        outcome = 'ended';
        return finalUpdate(latest, message);
      },
      current,
    );
    current = finished;
    if (outcome === 'more-to-undo') continue;
    if (outcome === 'ended-elsewhere') return `already ${finished.status}`;
    await services.notifyCompletion(finished);
    return finished.status;
  }
}

/** The write that ends a compensation: the outcome already announced to the caller stands; otherwise it follows
 * from the record (the caller's cancel request, something undone, or nothing to undo). */
function finalUpdate(latest: OrderJob, message: CompensateMessage): OrderJobUpdate {
  const announced = latest.data.notified;
  if (announced === 'cancelled' || announced === 'compensated' || announced === 'failed') {
    return { status: announced, event: { kind: announced, message: `${announced} again: a late step was undone` } };
  }
  const cancellation = latest.data.cancelRequested === true || message.cancellation === true;
  const undid = latest.data.done.some((step) => step !== 'email');
  const status = cancellation ? 'cancelled' : undid ? 'compensated' : 'failed';
  return {
    status,
    // The outbox: ending it records the caller's notification as owed in the same write (cleared once told).
    ...(owesNotification(latest) ? { data: { notifyOwed: true } } : {}),
    error: cancellation ? { code: 'CANCELLED', message: 'the order was cancelled' } : message.reason,
    event: { kind: status, message: `${status}: ${message.reason.code}` },
  };
}
