import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { odata, type TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';

import { SalesFacts } from '../../shared/batch/salesFacts';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import type { Job } from '../../shared/jobs/jobTypes';
import { orderCompletion, type SalesLedger } from '../../shared/workflow/completionNotifier';
import { orderJob } from '../../shared/workflow/orderJob';
import {
  type CompensateMessage,
  compensateMessageSchema,
  type OrderData,
  stepMessageSchema,
} from '../../shared/workflow/orderModel';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { compensateOrder, runOrderStep } from '../../shared/workflow/orderStepRunner';
import { storageClients, uniqueName } from '../support/storage';
import { latch } from '../support/wait';

const QUEUES = {
  step: { reserve: 'q-reserve', payment: 'q-payment', shipment: 'q-shipment', email: 'q-email' },
  reserveHigh: 'q-reserve-high',
  compensate: 'q-compensate',
};
const STUCK = { code: 'STUCK', message: 'reserve made no progress after 0 re-drives' };

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

/** Every row the sales ledger holds for an order, whatever its partition. */
async function ledgerRowsOf(table: TableClient, orderId: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({
    queryOptions: { filter: odata`RowKey eq ${orderId}` },
  })) {
    rows.push(row);
  }
  return rows;
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
  let services: OrderServices;

  before(async () => {
    store = new JobStore(clients.table(uniqueName('jobs')));
    const deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    await Promise.all([store.ensureTable(), deadLetters.ensureTable(), sales.ensureTable()]);
    const sender = {
      send: (queue: string, body: unknown) => {
        sent.push({ queue, body });
        return Promise.resolve();
      },
    };
    services = {
      runtime: new JobRuntime({ statuses: store, deadLetters, definitions: [orderJob] }),
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
          Promise.resolve({ chargeId: `ch_${key}`, amountCents, cardLast4: card.last4 }),
        refund: () => Promise.resolve(true),
      },
      shipping: {
        createShipment: (key) => Promise.resolve({ trackingNumber: `T-${key}`, carrier: 'fake' }),
        get: () => Promise.resolve(undefined),
        voidShipment: () => Promise.resolve(),
      },
      email: { send: () => Promise.resolve('sent') },
      queues: QUEUES,
      sender,
      // The production completion port over the real ledger; no caller to tell in these orders.
      notifyCompletion: orderCompletion(ledger, { jobs: store, sender, webhooks: {} as unknown as QueueClient }),
      notifyProgress: () => Promise.resolve(),
      log: () => undefined,
    };
  });

  /** Delivers the kept workflow messages in order until none is left. */
  async function drain(): Promise<string[]> {
    const outcomes: string[] = [];
    for (let message = sent.shift(); message; message = sent.shift()) {
      outcomes.push(
        message.queue === QUEUES.compensate
          ? await compensateOrder(services, compensateMessageSchema.parse(message.body))
          : await runOrderStep(services, stepMessageSchema.parse(message.body)),
      );
    }
    return outcomes;
  }

  function orderData(): OrderData {
    return {
      customer: { name: 'Ada', email: 'ada@example.com' },
      lines: [{ sku: 'MUG-1', name: 'Mug', quantity: 1, priceCents: 500 }],
      totalCents: 500,
      card: { token: 'tok', last4: '4242' },
      address: { postalCode: 'N1 9GU' },
      priority: 'normal',
      done: [],
      undone: [],
      redrives: 0,
      generation: 0,
      reopens: 0,
    };
  }

  /**
   * An order (no caller to tell) whose first step was given up on while its reservation was still being made: the
   * compensation ended it `failed` with nothing to undo, and the ledger says so. The reservation is still held.
   */
  async function failedWhileReserving() {
    const id = JobStore.newJobId('ord');
    await services.runtime.create(orderJob, { id, data: orderData() });
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
});
