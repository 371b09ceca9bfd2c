import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import type { QueueClient } from '@azure/storage-queue';

import { PermanentJobError } from '../../shared/jobs/jobErrors';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import type { Job } from '../../shared/jobs/jobTypes';
import { cancelOrder } from '../../shared/workflow/cancelOrder';
import { notifyCompletion, orderCompletion, type ReplyMessage } from '../../shared/workflow/completionNotifier';
import { orderJob } from '../../shared/workflow/orderJob';
import {
  handlePoisonedOrderMessage,
  handleStepMessage,
  MAX_PRIORITY_DEFERRALS,
} from '../../shared/workflow/orderMessages';
import {
  type CompensateMessage,
  type OrderData,
  type StepMessage,
  stepMessageSchema,
} from '../../shared/workflow/orderModel';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { compensateOrder, runOrderStep } from '../../shared/workflow/orderStepRunner';
import { superviseOrders } from '../../shared/workflow/orderSupervisor';
import { MemoryDeadLetters, MemoryJobStatuses, MemoryRedelivery } from '../support/memoryJobPorts';
import { deliverOrderMessages, newOrderData, ORDER_TEST_QUEUES, recordingSender } from '../support/orderFixtures';
import { latch } from '../support/wait';

const QUEUES = ORDER_TEST_QUEUES;
/** The reply queue the orders of the supervisor tests give: what their callers are told. */
const REPLIES = 'q-replies';

/** An effect that waits, once, until the test lets it finish: a slow step still running. */
interface HeldEffect {
  /** Resolves when the effect has been called (the step read the order and is in its effect). */
  reached: Promise<void>;
  release(): void;
}

function holdable() {
  const held = new Map<string, { reached: () => void; gate: Promise<void> }>();
  return {
    hold(effect: string): HeldEffect {
      const reached = latch();
      const gate = latch();
      held.set(effect, { reached: reached.open, gate: gate.opened });
      return { reached: reached.opened, release: gate.open };
    },
    /** Waits where a held effect must, then lets it through (once). */
    async pass(effect: string): Promise<void> {
      const entry = held.get(effect);
      if (!entry) return;
      held.delete(effect);
      entry.reached();
      await entry.gate;
    },
  };
}

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
  const replies: ReplyMessage[] = [];
  const held = holdable();
  let paymentOutage = 0;
  const sender = recordingSender(REPLIES, replies, sent);
  // Only reply queues in these tests: a webhook would need a queue client.
  const completion = { jobs: statuses, sender, webhooks: {} as unknown as QueueClient };
  const services: OrderServices = {
    runtime,
    jobs: {
      list: ({ statuses: wanted }) =>
        Promise.resolve({
          jobs: [...statuses.jobs.values()]
            .filter((job) => !wanted || wanted.includes(job.status))
            .map((job) => structuredClone(job)),
        }),
    },
    inventory: {
      reserve: async (key, lines) => {
        if (lines.some((line) => line.sku === 'NONE')) throw new PermanentJobError('OUT_OF_STOCK', 'none left');
        await held.pass('reserve');
        effects.push(`reserve ${key}`);
      },
      release: (key) => {
        effects.push(`release ${key}`);
        return Promise.resolve(1);
      },
    },
    payments: {
      charge: async (key, amountCents, card) => {
        if (card.token === 'declined') throw new PermanentJobError('PAYMENT_DECLINED', 'declined');
        if (paymentOutage > 0) {
          paymentOutage--;
          throw Object.assign(new Error('provider down'), { code: 'PAYMENT_UNAVAILABLE' });
        }
        await held.pass('charge');
        effects.push(`charge ${key} ${amountCents}`);
        return { chargeId: `ch_${key}`, amountCents, cardLast4: card.last4 };
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
    sender,
    notifyCompletion: (job: Job) => {
      completions.push(`${job.id} ${job.status}`);
      return notifyCompletion(completion, job);
    },
    notifyProgress: () => Promise.resolve(),
    log: () => undefined,
  };
  return {
    statuses,
    runtime,
    services,
    completion,
    sent,
    effects,
    completions,
    replies,
    hold: (effect: string) => held.hold(effect),
    redelivered: redelivery.redelivered,
    failPayments(times: number) {
      paymentOutage = times;
    },
  };
}

function orderData(overrides: Partial<OrderData> = {}): OrderData {
  return newOrderData({
    lines: [{ sku: 'MUG-1', name: 'Mug', quantity: 2, priceCents: 500 }],
    totalCents: 1000,
    address: { postalCode: '12345' },
    ...overrides,
  });
}

describe('order step runner (in-memory ports)', () => {
  let f: ReturnType<typeof fakes>;

  beforeEach(() => {
    f = fakes();
  });

  /** Delivers every queued step message in order until none is left, as the queues would. */
  function drain(): Promise<string[]> {
    return deliverOrderMessages(f.services, f.sent);
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
    assert.equal(reopened?.data.reopens, 1, 'an ended order replayed is reopened: its next sales fact wins');
    assert.deepEqual(reopened?.data.earlierEndDays, [new Date().toISOString().slice(0, 10)], 'the day it had ended');
    // The redelivered payment message finds the order restarted and starts it from its first step.
    const redelivered = f.redelivered.map((l) => ({ queue: QUEUES.step.payment, body: JSON.parse(l.body) as unknown }));
    f.sent.push(...redelivered);
    assert.deepEqual(await drain(), ['out-of-order', 'done', 'done', 'done', 'done']);
    assert.deepEqual(f.effects, ['reserve o8.1', 'charge o8.1 1000', 'ship o8.1', 'email o8.1 T-o8.1']);
    assert.equal((await f.runtime.read(orderJob, 'o8'))?.status, 'succeeded');
  });
  describe('when the supervisor gives up on a step that is still running', () => {
    const STUCK = { code: 'STUCK', message: 'payment made no progress after 0 re-drives' };

    /** An order whose reserve step is done and whose payment step is in its charge, held there. */
    async function orderInPayment(id: string) {
      await f.runtime.create(orderJob, { id, data: orderData(), correlation: { replyTo: REPLIES } });
      assert.equal(await runOrderStep(f.services, { jobId: id, step: 'reserve' }), 'done');
      f.sent.length = 0;
      const charge = f.hold('charge');
      const step = runOrderStep(f.services, { jobId: id, step: 'payment' });
      await charge.reached;
      return { charge, step };
    }

    /** One supervisor pass that finds the order stuck and gives up on it (no re-drives allowed). */
    async function giveUp(id: string) {
      const report = await superviseOrders(f.services, {
        stepDeadlineMs: 1000,
        maxRedrives: 0,
        now: new Date(Date.now() + 60_000),
      });
      assert.deepEqual(report.gaveUp, [id]);
      assert.deepEqual(f.sent, [{ queue: QUEUES.compensate, body: { jobId: id, reason: STUCK } }]);
    }

    /**
     * Charged and refunded once, reserved and released once (the undo of a step that finished late comes when it
     * does), ended `compensated` for STUCK, and the caller told once.
     */
    async function assertUndoneAndToldOnce(id: string) {
      const expected = [`reserve ${id}`, `charge ${id} 1000`, `refund ${id}`, `release ${id}`];
      assert.deepEqual([...f.effects].sort(), [...expected].sort());
      assert.ok(f.effects.indexOf(`charge ${id} 1000`) < f.effects.indexOf(`refund ${id}`), f.effects.join(', '));
      const job = await f.runtime.read(orderJob, id);
      assert.equal(job?.status, 'compensated');
      assert.equal(job?.error?.code, 'STUCK');
      assert.deepEqual(job?.data.done, ['reserve', 'payment']);
      assert.deepEqual([...(job?.data.undone ?? [])].sort(), ['payment', 'reserve']);
      assert.deepEqual(
        f.replies.map((r) => `${r.status} ${r.error?.code ?? ''}`),
        ['compensated STUCK'],
      );
    }

    it("undoes a step that saved its 'done' mark between compensation's read and its compensating write", async () => {
      const { charge, step } = await orderInPayment('s1');
      await giveUp('s1');
      f.statuses.beforeWrite(
        (update) => update.status === 'compensating',
        async () => {
          charge.release();
          assert.equal(await step, 'done');
        },
      );
      await drain();
      await assertUndoneAndToldOnce('s1');
    });

    it('undoes a step that finishes while compensation is undoing, as a compensation, not a cancellation', async () => {
      const { charge, step } = await orderInPayment('s2');
      await giveUp('s2');
      f.statuses.beforeWrite(
        (update) => Array.isArray(update.data?.['undone']),
        async () => {
          charge.release();
          assert.equal(await step, 'raced-with-compensation');
        },
      );
      await drain();
      await assertUndoneAndToldOnce('s2');
      assert.ok(f.statuses.events('s2').every((e) => e.kind !== 'cancelled'));
    });

    it('undoes a step that finishes after compensation ended, keeping the outcome the caller was told', async () => {
      const { charge, step } = await orderInPayment('s3');
      await giveUp('s3');
      assert.deepEqual(await drain(), ['compensated']);
      assert.deepEqual(
        f.replies.map((r) => r.status),
        ['compensated'],
      );
      charge.release();
      assert.equal(await step, 'raced-with-compensation');
      // The late step asks for compensation again, for the STUCK failure, not as a cancellation.
      assert.deepEqual(f.sent, [{ queue: QUEUES.compensate, body: { jobId: 's3', reason: STUCK } }]);
      assert.deepEqual(await drain(), ['compensated']);
      await assertUndoneAndToldOnce('s3');
      // Every message again changes nothing.
      assert.equal(await compensateOrder(f.services, { jobId: 's3', reason: STUCK }), 'already compensated');
      assert.equal(await runOrderStep(f.services, { jobId: 's3', step: 'payment' }), 'skipped (compensated)');
      await assertUndoneAndToldOnce('s3');
    });

    it('releases a first step that finishes after the order failed with nothing to undo, and says failed once', async () => {
      await f.runtime.create(orderJob, { id: 's4', data: orderData(), correlation: { replyTo: REPLIES } });
      const reserve = f.hold('reserve');
      const step = runOrderStep(f.services, { jobId: 's4', step: 'reserve' });
      await reserve.reached;
      const report = await superviseOrders(f.services, {
        stepDeadlineMs: 1000,
        maxRedrives: 0,
        now: new Date(Date.now() + 60_000),
      });
      assert.deepEqual(report.gaveUp, ['s4']);
      assert.deepEqual(await drain(), ['failed']);
      reserve.release();
      assert.equal(await step, 'raced-with-compensation');
      assert.deepEqual(await drain(), ['failed']);
      assert.deepEqual(f.effects, ['reserve s4', 'release s4']);
      const job = await f.runtime.read(orderJob, 's4');
      assert.equal(job?.status, 'failed');
      assert.deepEqual(job?.data.undone, ['reserve']);
      assert.equal(job?.data.reopens, 1, 'the compensation that reopened it counted the reopen');
      assert.deepEqual(
        f.replies.map((r) => r.status),
        ['failed'],
      );
    });

    it('leaves an order alone that succeeded before the compensation for it ran', async () => {
      await f.runtime.create(orderJob, {
        id: 's5',
        data: orderData({ done: ['reserve', 'payment', 'shipment'] }),
        correlation: { replyTo: REPLIES },
      });
      await f.runtime.update(orderJob, 's5', () => ({ status: 'running' }));
      assert.equal(await runOrderStep(f.services, { jobId: 's5', step: 'email' }), 'done');
      assert.equal(await compensateOrder(f.services, { jobId: 's5', reason: STUCK }), 'already succeeded');
      assert.equal((await f.runtime.read(orderJob, 's5'))?.status, 'succeeded');
      assert.deepEqual(f.effects, ['email s5 unknown']);
      assert.deepEqual(
        f.replies.map((r) => r.status),
        ['succeeded'],
      );
    });
  });

  it('does not start the first step of an order cancelled between its read and its running mark', async () => {
    await f.runtime.create(orderJob, { id: 'o9', data: orderData() });
    f.statuses.beforeWrite(
      (update) => update.status === 'running',
      async () => {
        assert.equal((await cancelOrder(f.services, 'o9', { kind: 'operator' })).outcome, 'accepted');
      },
    );
    assert.equal(await runOrderStep(f.services, { jobId: 'o9', step: 'reserve' }), 'cancel-pending');
    assert.deepEqual(await drain(), ['cancelled']);
    assert.deepEqual(f.effects, []);
    assert.equal((await f.runtime.read(orderJob, 'o9'))?.status, 'cancelled');
  });

  it('tells the caller the outcome of a replayed order: a new run, a new answer', async () => {
    await f.runtime.create(orderJob, {
      id: 'o10',
      data: orderData({ card: { token: 'declined', last4: '0002' } }),
      correlation: { replyTo: REPLIES },
    });
    f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'o10', step: 'reserve' } });
    assert.deepEqual(await drain(), ['done', 'failed (PAYMENT_DECLINED)', 'compensated']);
    const body = JSON.stringify({ jobId: 'o10', step: 'payment' });
    const letter = await f.runtime.recordPoison(
      { poisonQueue: 'q-payment-poison', messageId: 'm10', insertedAt: new Date(), text: body },
      { kind: 'queue', queue: QUEUES.step.payment },
      'o10',
      5,
    );
    await f.runtime.update(orderJob, 'o10', () => ({ data: { card: { token: 'tok', last4: '4242' } } }));
    assert.equal((await f.runtime.replay(letter.id)).outcome, 'replayed');
    f.sent.push(...f.redelivered.map((l) => ({ queue: QUEUES.step.payment, body: JSON.parse(l.body) as unknown })));
    await drain();
    assert.equal((await f.runtime.read(orderJob, 'o10'))?.status, 'succeeded');
    assert.deepEqual(
      f.replies.map((r) => r.status),
      ['compensated', 'succeeded'],
    );
  });
  describe('a normal order held back behind high-priority orders', () => {
    let delivered = 0;
    /** Delivers one message through the queue handler (as the function does), high-priority orders waiting. */
    function deliver(message: { queue: string; body: unknown }): Promise<string> {
      const services = { ...f.services, highPriorityWaiting: () => Promise.resolve(3) };
      const text = JSON.stringify(message.body);
      const delivery = {
        queue: message.queue,
        messageId: `m${++delivered}`,
        insertedAt: new Date(),
        text,
        dequeueCount: 1,
      };
      return handleStepMessage(services, delivery, message.body);
    }
    /** Takes the messages sent so far off the fake queues: the deferred start messages, and the rest. */
    function takeSent() {
      const taken = f.sent.splice(0);
      const isStart = (m: { queue: string; body: unknown }) =>
        m.queue === QUEUES.step.reserve && (m.body as StepMessage).cause === 'start';
      return { starts: taken.filter(isStart), others: taken.filter((m) => !isStart(m)) };
    }

    it('stops cycling its start message once the order has run (re-driven by the supervisor meanwhile)', async () => {
      await f.runtime.create(orderJob, { id: 'p1', data: orderData() });
      let start: { queue: string; body: unknown } = {
        queue: QUEUES.step.reserve,
        body: { jobId: 'p1', step: 'reserve', cause: 'start' },
      };
      assert.match(await deliver(start), /deferred/);
      [start] = takeSent().starts as [typeof start];
      assert.match(await deliver(start), /deferred/, 'still queued: held back again');
      [start] = takeSent().starts as [typeof start];
      // Waiting past its step deadline, the order is re-driven; a re-drive is not held back, and the order runs.
      const report = await superviseOrders(f.services, {
        stepDeadlineMs: 1000,
        maxRedrives: 3,
        now: new Date(Date.now() + 60_000),
      });
      assert.deepEqual(report.redriven, ['p1']);
      for (let next = takeSent().others; next.length > 0; next = takeSent().others) {
        for (const message of next) await deliver(message);
      }
      assert.equal((await f.runtime.read(orderJob, 'p1'))?.status, 'succeeded');
      // The start message still in the queue finds the order done: it is not sent round again.
      assert.equal(await deliver(start), 'order p1 reserve: skipped (succeeded)');
      assert.deepEqual(f.sent, []);
      assert.deepEqual(f.effects, ['reserve p1', 'charge p1 1000', 'ship p1', 'email p1 T-p1']);
    });

    it('stops cycling the start message of an order cancelled while it waited', async () => {
      await f.runtime.create(orderJob, { id: 'p2', data: orderData() });
      assert.match(
        await deliver({ queue: QUEUES.step.reserve, body: { jobId: 'p2', step: 'reserve', cause: 'start' } }),
        /deferred/,
      );
      const [start] = takeSent().starts;
      assert.equal((await cancelOrder(f.services, 'p2', { kind: 'operator' })).outcome, 'accepted');
      assert.deepEqual(await drain(), ['cancelled']);
      assert.ok(start);
      assert.equal(await deliver(start), 'order p2 reserve: skipped (cancelled)');
      assert.deepEqual(f.sent, []);
      assert.deepEqual(f.effects, []);
    });

    it('starts it anyway after a bounded number of deferrals', async () => {
      await f.runtime.create(orderJob, { id: 'p3', data: orderData() });
      let start: { queue: string; body: unknown } | undefined = {
        queue: QUEUES.step.reserve,
        body: { jobId: 'p3', step: 'reserve', cause: 'start' },
      };
      let deferrals = 0;
      while (start && deferrals <= MAX_PRIORITY_DEFERRALS) {
        const outcome = await deliver(start);
        const sent = takeSent();
        if (!/deferred/.test(outcome)) {
          assert.equal(outcome, 'order p3 reserve: done');
          f.sent.push(...sent.others);
          break;
        }
        deferrals++;
        [start] = sent.starts;
      }
      assert.equal(deferrals, MAX_PRIORITY_DEFERRALS);
      assert.deepEqual(f.effects, ['reserve p3']);
    });
  });

  describe('when the process dies between the write that ends an order and telling its caller', () => {
    /** The next notification dies before anything is sent, as a killed host would; later ones go through. */
    function crashOnNextNotification() {
      const services = f.services;
      const notify = services.notifyCompletion.bind(services);
      let crash = true;
      services.notifyCompletion = (job) => {
        if (!crash) return notify(job);
        crash = false;
        return Promise.reject(new Error('host killed'));
      };
    }

    it('tells the caller of a succeeded order once, when the last step message is delivered again', async () => {
      await f.runtime.create(orderJob, { id: 'n1', data: orderData(), correlation: { replyTo: REPLIES } });
      crashOnNextNotification();
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'n1', step: 'reserve', cause: 'start' } });
      await assert.rejects(drain(), /host killed/);
      const ended = await f.runtime.read(orderJob, 'n1');
      assert.equal(ended?.status, 'succeeded');
      assert.equal(ended?.data.notifyOwed, true, 'the write that ended it says a notification is owed');
      assert.equal(f.replies.length, 0);
      // The queue delivers the email step's message again (its handler never finished).
      const email: StepMessage = { jobId: 'n1', step: 'email', cause: 'next' };
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded), owed notification sent');
      assert.deepEqual(
        f.replies.map((r) => `${r.jobId} ${r.status}`),
        ['n1 succeeded'],
      );
      const told = await f.runtime.read(orderJob, 'n1');
      assert.equal(told?.data.notified, 'succeeded');
      assert.ok(!told?.data.notifyOwed, 'cleared once sent');
      // Any later copy finds nothing owed.
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded)');
      assert.equal(f.replies.length, 1);
      assert.deepEqual(f.effects, ['reserve n1', 'charge n1 1000', 'ship n1', 'email n1 T-n1']);
    });

    it('lists a succeeded order whose listing row the dead host never wrote, when a step message comes again', async () => {
      await f.runtime.create(orderJob, { id: 'n9', data: orderData() });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'n9', step: 'reserve', cause: 'start' } });
      await drain();
      assert.equal(f.statuses.listing.get('n9'), 'succeeded');
      f.statuses.listing.set('n9', 'active'); // its end written, its row not
      const email: StepMessage = { jobId: 'n9', step: 'email', cause: 'next' };
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded)');
      assert.equal(f.statuses.listing.get('n9'), 'succeeded');
      assert.deepEqual(f.statuses.indexWrites.at(-1), { id: 'n9', status: 'succeeded', by: 'repair' });
    });

    it('tells the caller of a compensated order once, when the compensation message is delivered again', async () => {
      await f.runtime.create(orderJob, {
        id: 'n2',
        data: orderData({ card: { token: 'declined', last4: '0002' } }),
        correlation: { replyTo: REPLIES },
      });
      crashOnNextNotification();
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'n2', step: 'reserve' } });
      await assert.rejects(drain(), /host killed/);
      assert.equal((await f.runtime.read(orderJob, 'n2'))?.data.notifyOwed, true);
      const compensation: CompensateMessage = {
        jobId: 'n2',
        reason: { code: 'PAYMENT_DECLINED', message: 'declined' },
      };
      assert.equal(await compensateOrder(f.services, compensation), 'already compensated, owed notification sent');
      assert.equal(await compensateOrder(f.services, compensation), 'already compensated');
      assert.deepEqual(
        f.replies.map((r) => `${r.jobId} ${r.status} ${r.error?.code ?? ''}`),
        ['n2 compensated PAYMENT_DECLINED'],
      );
      assert.deepEqual(f.effects, ['reserve n2', 'release n2']);
    });

    it('tells the caller once when the last step message is poisoned instead (every redelivery died too)', async () => {
      await f.runtime.create(orderJob, { id: 'n3', data: orderData(), correlation: { replyTo: REPLIES } });
      crashOnNextNotification();
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'n3', step: 'reserve' } });
      await assert.rejects(drain(), /host killed/);
      const body = { jobId: 'n3', step: 'email', cause: 'next' };
      const delivery = {
        queue: 'q-email-poison',
        messageId: 'mp3',
        insertedAt: new Date(),
        text: JSON.stringify(body),
        dequeueCount: 1,
      };
      await handlePoisonedOrderMessage(f.services, QUEUES.step.email, delivery, body);
      assert.deepEqual(await drain(), ['already succeeded, owed notification sent']);
      assert.equal((await f.runtime.read(orderJob, 'n3'))?.status, 'succeeded');
      assert.deepEqual(
        f.replies.map((r) => `${r.jobId} ${r.status}`),
        ['n3 succeeded'],
      );
    });

    it('tells the caller of an order failed by a poisoned compensation, once however often the poison arrives', async () => {
      await f.runtime.create(orderJob, { id: 'n5', data: orderData(), correlation: { replyTo: REPLIES } });
      assert.equal(await runOrderStep(f.services, { jobId: 'n5', step: 'reserve' }), 'done');
      // The compensation failed on every delivery (the release kept failing) and went to the poison queue.
      await f.runtime.update(orderJob, 'n5', () => ({ status: 'compensating' }));
      const body = { jobId: 'n5', reason: { code: 'PAYMENT_DECLINED', message: 'declined' } };
      const delivery = {
        queue: 'q-compensate-poison',
        messageId: 'mp5',
        insertedAt: new Date(),
        text: JSON.stringify(body),
        dequeueCount: 1,
      };
      await handlePoisonedOrderMessage(f.services, QUEUES.compensate, delivery, body);
      await handlePoisonedOrderMessage(f.services, QUEUES.compensate, delivery, body);
      assert.equal((await f.runtime.read(orderJob, 'n5'))?.status, 'failed');
      assert.deepEqual(
        f.replies.map((r) => `${r.jobId} ${r.status}`),
        ['n5 failed'],
      );
    });

    it('costs no storage request more when nothing dies: the write that ends it carries the flag', async () => {
      await f.runtime.create(orderJob, { id: 'n4', data: orderData(), correlation: { replyTo: REPLIES } });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'n4', step: 'reserve', cause: 'start' } });
      assert.deepEqual(await drain(), ['done', 'done', 'done', 'done']);
      assert.equal(f.replies.length, 1);
      // Creation, `running`, four steps, and the notified mark (which clears the flag): as before the flag.
      assert.equal(f.statuses.writes, 7);
      assert.ok(!(await f.runtime.read(orderJob, 'n4'))?.data.notifyOwed);
    });
  });

  describe('when the process dies between the write that ends an order and recording its sales fact', () => {
    /**
     * The production completion port (`orderCompletion`) over an in-memory sales ledger (rows keyed by order id, an
     * upsert as the table's); with `diesOnce`, its first write dies before it lands: a host killed after the ending
     * write.
     */
    function memoryLedger({ diesOnce }: { diesOnce: boolean }) {
      const rows = new Map<string, { status: string; totalCents: number; completedAt: string }>();
      let writes = 0;
      let crash = diesOnce;
      const ledger = {
        record: (job: Job) => {
          if (crash) {
            crash = false;
            return Promise.reject(new Error('host killed'));
          }
          writes++;
          if (job.completedAt) {
            rows.set(job.id, {
              status: job.status,
              totalCents: Number(job.data['totalCents']),
              completedAt: job.completedAt,
            });
          }
          return Promise.resolve();
        },
      };
      const port = orderCompletion(ledger, f.completion);
      f.services.notifyCompletion = (job) => {
        f.completions.push(`${job.id} ${job.status}`);
        return port(job);
      };
      return { rows, writes: () => writes };
    }

    it('records a succeeded order without a caller to tell once, when its last step message comes again', async () => {
      const ledger = memoryLedger({ diesOnce: true });
      await f.runtime.create(orderJob, { id: 'l1', data: orderData() });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'l1', step: 'reserve', cause: 'start' } });
      await assert.rejects(drain(), /host killed/);
      const ended = await f.runtime.read(orderJob, 'l1');
      assert.equal(ended?.status, 'succeeded');
      assert.equal(ledger.rows.size, 0, 'the fact was lost with the process');
      // The queue delivers the email step's message again (its handler never finished), and once more.
      const email: StepMessage = { jobId: 'l1', step: 'email', cause: 'next' };
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded)');
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded)');
      assert.deepEqual(
        [...ledger.rows],
        [['l1', { status: 'succeeded', totalCents: 1000, completedAt: ended?.completedAt }]],
      );
      assert.equal(ledger.writes(), 2, 'each redelivery pays one idempotent upsert, no more');
      assert.deepEqual(f.effects, ['reserve l1', 'charge l1 1000', 'ship l1', 'email l1 T-l1']);
      assert.equal(f.replies.length, 0);
    });

    it('records it and tells the caller once when the order has a reply queue', async () => {
      const ledger = memoryLedger({ diesOnce: true });
      await f.runtime.create(orderJob, { id: 'l2', data: orderData(), correlation: { replyTo: REPLIES } });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'l2', step: 'reserve', cause: 'start' } });
      await assert.rejects(drain(), /host killed/);
      const email: StepMessage = { jobId: 'l2', step: 'email', cause: 'next' };
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded), owed notification sent');
      assert.equal(await runOrderStep(f.services, email), 'skipped (succeeded)');
      assert.deepEqual(
        [...ledger.rows].map(([id, row]) => `${id} ${row.status} ${row.totalCents}`),
        ['l2 succeeded 1000'],
      );
      assert.deepEqual(
        f.replies.map((r) => `${r.jobId} ${r.status}`),
        ['l2 succeeded'],
      );
    });

    it('records a compensated order under its own status, never as a sale, when the compensation comes again', async () => {
      const ledger = memoryLedger({ diesOnce: true });
      await f.runtime.create(orderJob, { id: 'l3', data: orderData({ card: { token: 'declined', last4: '0002' } }) });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'l3', step: 'reserve' } });
      await assert.rejects(drain(), /host killed/);
      assert.equal((await f.runtime.read(orderJob, 'l3'))?.status, 'compensated');
      assert.equal(ledger.rows.size, 0);
      const compensation: CompensateMessage = {
        jobId: 'l3',
        reason: { code: 'PAYMENT_DECLINED', message: 'declined' },
      };
      assert.equal(await compensateOrder(f.services, compensation), 'already compensated');
      assert.equal(await compensateOrder(f.services, compensation), 'already compensated');
      assert.deepEqual(
        [...ledger.rows].map(([id, row]) => `${id} ${row.status}`),
        ['l3 compensated'],
      );
      assert.deepEqual(f.effects, ['reserve l3', 'release l3']);
    });

    it('records nothing for an order still being undone (a step message finding it compensating)', async () => {
      const ledger = memoryLedger({ diesOnce: false });
      await f.runtime.create(orderJob, { id: 'l4', data: orderData() });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'l4', step: 'reserve', cause: 'start' } });
      const reserved = await runOrderStep(f.services, stepMessageSchema.parse(f.sent.shift()?.body));
      assert.equal(reserved, 'done');
      await f.runtime.update(orderJob, 'l4', () => ({ status: 'compensating' }));
      assert.equal(await runOrderStep(f.services, { jobId: 'l4', step: 'payment' }), 'skipped (compensating)');
      assert.equal(ledger.rows.size, 0);
      assert.deepEqual(f.completions, []);
    });

    it('writes the ledger once per order when nothing dies, and no storage request more', async () => {
      const ledger = memoryLedger({ diesOnce: false });
      await f.runtime.create(orderJob, { id: 'l5', data: orderData() });
      f.sent.push({ queue: QUEUES.step.reserve, body: { jobId: 'l5', step: 'reserve', cause: 'start' } });
      assert.deepEqual(await drain(), ['done', 'done', 'done', 'done']);
      assert.equal(ledger.writes(), 1);
      assert.equal(ledger.rows.get('l5')?.status, 'succeeded');
      // Creation, `running`, four steps: as before the ledger's redelivery path.
      assert.equal(f.statuses.writes, 6);
    });
  });
});
