import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { QueueClient } from '@azure/storage-queue';

import { SalesFacts } from '../../shared/batch/salesFacts';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import { isTerminal, type Job, type JobUpdate, type JobUpdateOptions } from '../../shared/jobs/jobTypes';
import { orderCompletion, type SalesLedger } from '../../shared/workflow/completionNotifier';
import { orderJob } from '../../shared/workflow/orderJob';
import { handlePoisonedOrderMessage } from '../../shared/workflow/orderMessages';
import type { CompensateMessage } from '../../shared/workflow/orderModel';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { compensateOrder, runOrderStep } from '../../shared/workflow/orderStepRunner';
import { DelegatingJobStatuses } from '../support/delegatingJobStatuses';
import {
  deliverOrderMessages,
  instantShipping,
  ledgerRowsOf,
  oneMugOrder,
  ORDER_TEST_QUEUES,
} from '../support/orderFixtures';
import { storageClients, uniqueName } from '../support/storage';
import { latch } from '../support/wait';

const QUEUES = ORDER_TEST_QUEUES;
const STUCK = { code: 'STUCK', message: 'reserve made no progress after 0 re-drives' };
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The job store on Azurite; with `endAt` set, a write that ends a job records that as its completion time (the
 * store takes it from the update, as it does for a replay put back): an end just before last midnight, UTC.
 */
class ClockedJobStatuses extends DelegatingJobStatuses {
  endAt: string | undefined;

  override update(id: string, change: (job: Job) => JobUpdate | undefined, options?: JobUpdateOptions): Promise<Job> {
    return this.store.update(
      id,
      (job) => {
        const update = change(job);
        const ends = update?.status !== undefined && isTerminal(update.status) && !isTerminal(job.status);
        return update && ends && this.endAt ? { ...update, completedAt: this.endAt } : update;
      },
      options,
    );
  }
}

/** The real sales ledger on Azurite; `holdNext` stops its next write before it is sent (a stalled process). */
class HoldingLedger implements SalesLedger {
  #hold: { reached: ReturnType<typeof latch>; gate: ReturnType<typeof latch> } | undefined;

  constructor(private readonly ledger: SalesFacts) {}

  holdNext() {
    const hold = { reached: latch(), gate: latch() };
    this.#hold = hold;
    return { reached: hold.reached.opened, release: hold.gate.open };
  }

  async record(job: Job): Promise<void> {
    const hold = this.#hold;
    this.#hold = undefined;
    if (hold) {
      hold.reached.open();
      await hold.gate.opened;
    }
    await this.ledger.record(job);
  }
}

describe('the sales ledger of an order reopened after it ended (Table Storage)', () => {
  const clients = storageClients();
  const salesTable = clients.table(uniqueName('sales'));
  const sales = new SalesFacts(salesTable);
  const ledger = new HoldingLedger(sales);
  const sent: { queue: string; body: unknown }[] = [];
  const effects: string[] = [];
  /** The next reservation, once made, waits here before its step records it. */
  let reserveHold: { reached: ReturnType<typeof latch>; gate: ReturnType<typeof latch> } | undefined;
  let store: JobStore;
  let statuses: ClockedJobStatuses;
  let services: OrderServices;
  /** The payment provider is down while set: a charge fails with a transient error. */
  let paymentDown = false;
  const today = new Date().toISOString().slice(0, 10);
  const yesterday = new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);
  const lateYesterday = `${yesterday}T23:59:59.000Z`;

  before(async () => {
    store = new JobStore(clients.table(uniqueName('jobs')));
    statuses = new ClockedJobStatuses(store);
    const deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    await Promise.all([store.ensureTable(), deadLetters.ensureTable(), sales.ensureTable()]);
    const sender = {
      send: (queue: string, body: unknown) => {
        sent.push({ queue, body });
        return Promise.resolve();
      },
    };
    services = {
      runtime: new JobRuntime({
        statuses,
        deadLetters,
        // A replay puts the dead letter's message back on its queue: here, the kept messages.
        redelivery: {
          redeliver: (letter) => {
            if (letter.source.kind === 'queue')
              sent.push({ queue: letter.source.queue, body: JSON.parse(letter.body) });
            return Promise.resolve();
          },
        },
        definitions: [orderJob],
      }),
      jobs: store,
      inventory: {
        async reserve(key) {
          effects.push(`reserve ${key}`);
          const hold = reserveHold;
          reserveHold = undefined;
          if (hold) {
            hold.reached.open();
            await hold.gate.opened;
          }
        },
        release: (key) => {
          effects.push(`release ${key}`);
          return Promise.resolve(1);
        },
      },
      payments: {
        charge: (key, amountCents, card) =>
          paymentDown
            ? Promise.reject(new Error('payment provider unavailable'))
            : Promise.resolve({ chargeId: `ch_${key}`, amountCents, cardLast4: card.last4 }),
        refund: () => Promise.resolve(true),
      },
      shipping: instantShipping(),
      email: { send: () => Promise.resolve('sent') },
      queues: QUEUES,
      sender,
      // The production completion port over the real ledger; no caller to tell in these orders.
      notifyCompletion: orderCompletion(ledger, { jobs: statuses, sender, webhooks: {} as unknown as QueueClient }),
      notifyProgress: () => Promise.resolve(),
      log: () => undefined,
    };
  });

  /** Delivers the kept workflow messages in order until none is left. */
  function drain(): Promise<string[]> {
    return deliverOrderMessages(services, sent);
  }

  /**
   * An order (no caller to tell) whose first step was given up on while its reservation was still being made: the
   * compensation ended it `failed` with nothing to undo, and the ledger says so. The reservation is still held.
   */
  async function failedWhileReserving() {
    const id = JobStore.newJobId('ord');
    await services.runtime.create(orderJob, { id, data: oneMugOrder() });
    const hold = { reached: latch(), gate: latch() };
    reserveHold = hold;
    const step = runOrderStep(services, { jobId: id, step: 'reserve', cause: 'start' });
    await hold.reached.opened;
    // What the supervisor sends when it gives up on the step.
    const giveUp: CompensateMessage = { jobId: id, reason: STUCK };
    assert.equal(await compensateOrder(services, giveUp), 'failed');
    assert.deepEqual(
      (await ledgerRowsOf(salesTable, id)).map((row) => row['status']),
      ['failed'],
    );
    return { id, giveUp, releaseReserve: hold.gate.open, step };
  }

  it('keeps the later compensated outcome when a stale redelivery of the failed one records after it', async () => {
    const { id, giveUp, releaseReserve, step } = await failedWhileReserving();
    // The give-up message is delivered again: it reads the order `failed` and runs the completion port again, but
    // its process stalls before the ledger write.
    const stale = ledger.holdNext();
    const redelivered = compensateOrder(services, giveUp);
    await stale.reached;
    // The reservation lands late: the order is reopened, the stock released, and it ends `compensated`.
    releaseReserve();
    assert.equal(await step, 'raced-with-compensation');
    assert.deepEqual(await drain(), ['compensated']);
    const job = await services.runtime.read(orderJob, id);
    assert.equal(job?.status, 'compensated');
    assert.deepEqual(
      effects.filter((effect) => effect.endsWith(id)),
      [`reserve ${id}`, `release ${id}`],
    );
    // Now the stalled redelivery writes what it read.
    stale.release();
    assert.equal(await redelivered, 'already failed');

    const rows = await ledgerRowsOf(salesTable, id);
    assert.deepEqual(
      rows.map((row) => `${String(row['status'])} ${String(row['errorCode'])}`),
      ['compensated STUCK'],
      'the order’s final outcome stands',
    );
    const day = (await sales.page(String(job?.completedAt).slice(0, 10))).facts;
    assert.deepEqual(
      day.filter((fact) => fact.orderId === id).map((fact) => fact.status),
      ['compensated'],
    );
  });

  /** The facts of `day` for one order, as the nightly report and the export read them. */
  async function factsOf(day: string, id: string): Promise<string[]> {
    const facts = [];
    let token: string | undefined;
    do {
      const page = await sales.page(day, token);
      facts.push(...page.facts.filter((fact) => fact.orderId === id));
      token = page.continuationToken;
    } while (token);
    return facts.map((fact) => `${fact.status} ${fact.totalCents}`);
  }

  /** Every row of an order as `day status`, whatever its partition. */
  async function rowsByDay(id: string): Promise<string[]> {
    return (await ledgerRowsOf(salesTable, id))
      .map((row) => `${String(row.partitionKey).slice(0, 10)} ${String(row['status'])}`)
      .sort();
  }

  it('moves the fact of an order ended yesterday and reopened today to today, and a stale write cannot bring it back', async () => {
    statuses.endAt = lateYesterday;
    const { id, giveUp, releaseReserve, step } = await failedWhileReserving();
    statuses.endAt = undefined;
    assert.equal((await services.runtime.read(orderJob, id))?.completedAt, lateYesterday);
    assert.deepEqual(await factsOf(yesterday, id), ['failed 500']);
    // A redelivery of the give-up message reads the order as it ended yesterday and stalls before its ledger write.
    const stale = ledger.holdNext();
    const redelivered = compensateOrder(services, giveUp);
    await stale.reached;
    // Today the reservation lands: the order is reopened, the stock released, and it ends `compensated`.
    releaseReserve();
    assert.equal(await step, 'raced-with-compensation');
    assert.deepEqual(await drain(), ['compensated']);
    assert.equal((await services.runtime.read(orderJob, id))?.completedAt?.slice(0, 10), today);
    stale.release();
    assert.equal(await redelivered, 'already failed');

    // One fact, today's: yesterday's report (run or rerun now) no longer counts the order, today's counts it once.
    assert.deepEqual(await factsOf(yesterday, id), []);
    assert.deepEqual(await factsOf(today, id), ['compensated 500']);
    assert.deepEqual(await rowsByDay(id), [`${today} compensated`, `${yesterday} superseded`].sort());
  });

  it('counts an order compensated yesterday and replayed to success today once, today, with its revenue', async () => {
    const id = JobStore.newJobId('ord');
    await services.runtime.create(orderJob, { id, data: oneMugOrder() });
    assert.equal(await runOrderStep(services, { jobId: id, step: 'reserve', cause: 'start' }), 'done');
    sent.length = 0;
    // The payment provider is down until the payment message is poisoned; the order is compensated just before
    // midnight.
    paymentDown = true;
    const payment = { jobId: id, step: 'payment', cause: 'next' } as const;
    await assert.rejects(runOrderStep(services, payment), /payment provider unavailable/);
    statuses.endAt = lateYesterday;
    const poisoned = await handlePoisonedOrderMessage(
      services,
      QUEUES.step.payment,
      {
        queue: `${QUEUES.step.payment}-poison`,
        messageId: uniqueName('m'),
        insertedAt: new Date(),
        text: JSON.stringify(payment),
        dequeueCount: 5,
      },
      payment,
    );
    assert.deepEqual(await drain(), ['compensated']);
    statuses.endAt = undefined;
    assert.deepEqual(await factsOf(yesterday, id), ['compensated 500']);

    // Today the provider is back and an operator replays the dead letter: the order runs again and succeeds.
    paymentDown = false;
    const letterId = /dead letter (\S+)$/.exec(poisoned)?.[1];
    assert.ok(letterId, poisoned);
    assert.equal((await services.runtime.replay(letterId)).outcome, 'replayed');
    assert.deepEqual(await drain(), ['out-of-order', 'done', 'done', 'done', 'done']);
    const job = await services.runtime.read(orderJob, id);
    assert.equal(job?.status, 'succeeded');
    assert.equal(job?.completedAt?.slice(0, 10), today);

    assert.deepEqual(await factsOf(yesterday, id), []);
    assert.deepEqual(await factsOf(today, id), ['succeeded 500']);
    assert.deepEqual(await rowsByDay(id), [`${today} succeeded`, `${yesterday} superseded`].sort());
  });
});
