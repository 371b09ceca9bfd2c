import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { PermanentJobError } from '../../shared/jobs/jobErrors';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import type { Job } from '../../shared/jobs/jobTypes';
import { cancelOrder } from '../../shared/workflow/cancelOrder';
import { orderJob } from '../../shared/workflow/orderJob';
import {
  type CompensateMessage,
  compensateMessageSchema,
  type OrderData,
  type StepMessage,
  stepMessageSchema,
} from '../../shared/workflow/orderModel';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { compensateOrder, runOrderStep } from '../../shared/workflow/orderStepRunner';
import { MemoryDeadLetters, MemoryJobStatuses, MemoryRedelivery } from '../support/memoryJobPorts';

const QUEUES = {
  step: { reserve: 'q-reserve', payment: 'q-payment', shipment: 'q-shipment', email: 'q-email' },
  reserveHigh: 'q-reserve-high',
  compensate: 'q-compensate',
};

/** In-memory fakes of the workflow's ports, recording every effect. */
function fakes() {
  const statuses = new MemoryJobStatuses();
  const redelivery = new MemoryRedelivery();
  const runtime = new JobRuntime({
    statuses,
    deadLetters: new MemoryDeadLetters(),
    redelivery,
    definitions: [orderJob],
  });
  const sent: { queue: string; body: unknown }[] = [];
  const effects: string[] = [];
  const completions: string[] = [];
  let paymentOutage = 0;
  const services: OrderServices = {
    runtime,
    jobs: { list: () => Promise.resolve({ jobs: [] }) },
    inventory: {
      reserve: (key, lines) => {
        if (lines.some((line) => line.sku === 'NONE')) throw new PermanentJobError('OUT_OF_STOCK', 'none left');
        effects.push(`reserve ${key}`);
        return Promise.resolve();
      },
      release: (key) => {
        effects.push(`release ${key}`);
        return Promise.resolve(1);
      },
    },
    payments: {
      charge: (key, amountCents, card) => {
        if (card.token === 'declined') return Promise.reject(new PermanentJobError('PAYMENT_DECLINED', 'declined'));
        if (paymentOutage > 0) {
          paymentOutage--;
          return Promise.reject(Object.assign(new Error('provider down'), { code: 'PAYMENT_UNAVAILABLE' }));
        }
        effects.push(`charge ${key} ${amountCents}`);
        return Promise.resolve({ chargeId: `ch_${key}`, amountCents, cardLast4: card.last4 });
      },
      refund: (key) => {
        effects.push(`refund ${key}`);
        return Promise.resolve(true);
      },
    },
    shipping: {
      createShipment: (key) => {
        effects.push(`ship ${key}`);
        return Promise.resolve({ trackingNumber: `T-${key}`, carrier: 'fake' });
      },
      get: () => Promise.resolve(undefined),
      voidShipment: (key) => {
        effects.push(`void ${key}`);
        return Promise.resolve();
      },
    },
    email: {
      send: (email) => {
        effects.push(`email ${email.orderId} ${email.trackingNumber}`);
        return Promise.resolve('sent');
      },
    },
    queues: QUEUES,
    sender: {
      send: (queue, body) => {
        sent.push({ queue, body });
        return Promise.resolve();
      },
    },
    notifyCompletion: (job: Job) => {
      completions.push(`${job.id} ${job.status}`);
      return Promise.resolve();
    },
    notifyProgress: () => Promise.resolve(),
    log: () => undefined,
  };
  return {
    statuses,
    runtime,
    services,
    sent,
    effects,
    completions,
    redelivered: redelivery.redelivered,
    failPayments(times: number) {
      paymentOutage = times;
    },
  };
}

function orderData(overrides: Partial<OrderData> = {}): OrderData {
  return {
    customer: { name: 'Ada', email: 'ada@example.com' },
    lines: [{ sku: 'MUG-1', name: 'Mug', quantity: 2, priceCents: 500 }],
    totalCents: 1000,
    card: { token: 'tok', last4: '4242' },
    address: { postalCode: '12345' },
    priority: 'normal',
    done: [],
    undone: [],
    redrives: 0,
    generation: 0,
    ...overrides,
  };
}

describe('order step runner (in-memory ports)', () => {
  let f: ReturnType<typeof fakes>;

  beforeEach(() => {
    f = fakes();
  });

  /** Delivers every queued step message in order until none is left, as the queues would. */
  async function drain(): Promise<string[]> {
    const outcomes: string[] = [];
    while (f.sent.length > 0) {
      const message = f.sent.shift();
      if (!message) break;
      if (message.queue === QUEUES.compensate) {
        outcomes.push(await compensateOrder(f.services, compensateMessageSchema.parse(message.body)));
      } else {
        outcomes.push(await runOrderStep(f.services, stepMessageSchema.parse(message.body)));
      }
    }
    return outcomes;
  }

  it('runs the four steps in order, each effect once, ending succeeded with the collected result', async () => {
    await f.runtime.create(orderJob, { id: 'o1', data: orderData() });
    f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'o1', step: 'reserve', cause: 'start' } });
    assert.deepEqual(await drain(), ['done', 'done', 'done', 'done']);
    assert.deepEqual(f.effects, ['reserve o1', 'charge o1 1000', 'ship o1', 'email o1 T-o1']);
    const job = await f.runtime.read(orderJob, 'o1');
    assert.equal(job?.status, 'succeeded');
    assert.deepEqual(job?.data.done, ['reserve', 'payment', 'shipment', 'email']);
    assert.equal(job?.result?.shipment?.trackingNumber, 'T-o1');
    assert.equal(job?.progress.percent, 100);
    assert.equal(job?.attempts, 4);
    assert.deepEqual(f.completions, ['o1 succeeded']);
    const kinds = f.statuses.events('o1').map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'step-started').length, 4);
    assert.equal(kinds.filter((k) => k === 'step-done').length, 4);
    // One write per step, plus `running` before the first effect: creation + 5.
    assert.equal(f.statuses.writes, 6);
  });

  it('passes a duplicate of a done step on without repeating its effect, and drops a step that came too early', async () => {
    await f.runtime.create(orderJob, { id: 'o2', data: orderData() });
    assert.equal(await runOrderStep(f.services, { jobId: 'o2', step: 'payment' }), 'out-of-order');
    assert.deepEqual(f.effects, []);
    assert.equal(await runOrderStep(f.services, { jobId: 'o2', step: 'reserve' }), 'done');
    f.sent.length = 0;
    assert.equal(await runOrderStep(f.services, { jobId: 'o2', step: 'reserve' }), 'already-done');
    assert.deepEqual(f.effects, ['reserve o2']);
    assert.deepEqual(f.sent, [{ queue: QUEUES.step.payment, body: { jobId: 'o2', step: 'payment', cause: 'next' } }]);
  });

  it('retries a transient failure (recorded on the job) and goes on once it clears', async () => {
    await f.runtime.create(orderJob, { id: 'o3', data: orderData() });
    await runOrderStep(f.services, { jobId: 'o3', step: 'reserve' });
    f.failPayments(1);
    await assert.rejects(runOrderStep(f.services, { jobId: 'o3', step: 'payment' }), /provider down/);
    const between = await f.runtime.read(orderJob, 'o3');
    assert.equal(between?.error?.code, 'PAYMENT_UNAVAILABLE');
    assert.equal(between?.status, 'running');
    assert.ok(f.statuses.events('o3').some((e) => e.kind === 'step-failed' && /PAYMENT_UNAVAILABLE/.test(e.message)));
    assert.equal(await runOrderStep(f.services, { jobId: 'o3', step: 'payment' }), 'done');
    f.sent.length = 0;
    f.sent.push({ queue: QUEUES.step.shipment, body: { jobId: 'o3', step: 'shipment' } });
    await drain();
    const job = await f.runtime.read(orderJob, 'o3');
    assert.equal(job?.status, 'succeeded');
    assert.equal(job?.error, undefined);
  });

  it('compensates in reverse on a permanent failure, without retrying', async () => {
    await f.runtime.create(orderJob, { id: 'o4', data: orderData({ card: { token: 'declined', last4: '0002' } }) });
    f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'o4', step: 'reserve' } });
    const outcomes = await drain();
    assert.deepEqual(outcomes, ['done', 'failed (PAYMENT_DECLINED)', 'compensated']);
    assert.deepEqual(f.effects, ['reserve o4', 'release o4']);
    const job = await f.runtime.read(orderJob, 'o4');
    assert.equal(job?.status, 'compensated');
    assert.equal(job?.error?.code, 'PAYMENT_DECLINED');
    assert.deepEqual(job?.data.undone, ['reserve']);
    assert.deepEqual(f.completions, ['o4 compensated']);
    // A second compensation message changes nothing.
    const again: CompensateMessage = { jobId: 'o4', reason: { code: 'PAYMENT_DECLINED', message: 'declined' } };
    assert.equal(await compensateOrder(f.services, again), 'already compensated');
    assert.deepEqual(f.effects, ['reserve o4', 'release o4']);
  });

  it('fails an order whose first step is out of stock, with nothing to undo', async () => {
    await f.runtime.create(orderJob, {
      id: 'o5',
      data: orderData({ lines: [{ sku: 'NONE', name: 'x', quantity: 1, priceCents: 1 }] }),
    });
    f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'o5', step: 'reserve' } });
    assert.deepEqual(await drain(), ['failed (OUT_OF_STOCK)', 'failed']);
    assert.equal((await f.runtime.read(orderJob, 'o5'))?.status, 'failed');
  });

  it('cancels before shipment (undoing what was done) and refuses after', async () => {
    await f.runtime.create(orderJob, { id: 'o6', data: orderData(), correlation: { cancelToken: 'secret' } });
    await runOrderStep(f.services, { jobId: 'o6', step: 'reserve' });
    f.sent.length = 0;
    for (const presented of [undefined, null, 'wrong']) {
      assert.deepEqual(await cancelOrder(f.services, 'o6', { kind: 'cancel-token', presented }), {
        outcome: 'forbidden',
      });
    }
    assert.equal(f.sent.length, 0);
    const cancelled = await cancelOrder(f.services, 'o6', { kind: 'cancel-token', presented: 'secret' });
    assert.equal(cancelled.outcome, 'accepted');
    // The payment message still in flight finds the request and does nothing.
    assert.equal(await runOrderStep(f.services, { jobId: 'o6', step: 'payment' }), 'cancel-pending');
    assert.deepEqual(await drain(), ['cancelled']);
    assert.deepEqual(f.effects, ['reserve o6', 'release o6']);
    assert.equal((await f.runtime.read(orderJob, 'o6'))?.status, 'cancelled');

    const step: StepMessage = { jobId: 'o7', step: 'reserve' };
    await f.runtime.create(orderJob, { id: 'o7', data: orderData() });
    f.sent.push({ queue: QUEUES.step.reserve, body: step });
    await drain();
    assert.deepEqual(await cancelOrder(f.services, 'o7', { kind: 'operator' }), {
      outcome: 'refused',
      reason: 'the order is already succeeded',
    });
    assert.deepEqual(await cancelOrder(f.services, 'missing', { kind: 'operator' }), { outcome: 'not-found' });
  });

  it('replays a dead-lettered order from its first step, with fresh idempotency keys', async () => {
    await f.runtime.create(orderJob, { id: 'o8', data: orderData({ done: ['reserve'], undone: ['reserve'] }) });
    const body = JSON.stringify({ jobId: 'o8', step: 'payment' });
    const letter = await f.runtime.recordPoison(
      { poisonQueue: 'q-payment-poison', messageId: 'm8', insertedAt: new Date(), text: body },
      { kind: 'queue', queue: QUEUES.step.payment },
      'o8',
      5,
    );
    assert.equal((await f.runtime.read(orderJob, 'o8'))?.status, 'failed');
    assert.equal((await f.runtime.replay(letter.id)).outcome, 'replayed');
    const reopened = await f.runtime.read(orderJob, 'o8');
    assert.equal(reopened?.status, 'queued');
    assert.deepEqual([reopened?.data.done, reopened?.data.generation], [[], 1]);
    // The redelivered payment message finds the order restarted and starts it from its first step.
    const redelivered = f.redelivered.map((l) => ({ queue: QUEUES.step.payment, body: JSON.parse(l.body) as unknown }));
    f.sent.push(...redelivered);
    assert.deepEqual(await drain(), ['out-of-order', 'done', 'done', 'done', 'done']);
    assert.deepEqual(f.effects, ['reserve o8.1', 'charge o8.1 1000', 'ship o8.1', 'email o8.1 T-o8.1']);
    assert.equal((await f.runtime.read(orderJob, 'o8'))?.status, 'succeeded');
  });
});
