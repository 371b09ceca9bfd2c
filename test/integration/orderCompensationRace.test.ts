import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { QueueClient } from '@azure/storage-queue';

import { storageRedelivery } from '../../shared/deadletters/deadLetterRedelivery';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import type { Job, JobUpdate, JobUpdateOptions } from '../../shared/jobs/jobTypes';
import { InventoryStore } from '../../shared/orders/inventoryStore';
import { SandboxPaymentGateway, TEST_CARDS, tokenizeCard } from '../../shared/orders/paymentGateway';
import { SandboxShippingService } from '../../shared/orders/shippingService';
import { notifyCompletion, type ReplyMessage } from '../../shared/workflow/completionNotifier';
import { orderJob } from '../../shared/workflow/orderJob';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { runOrderStep } from '../../shared/workflow/orderStepRunner';
import { superviseOrders } from '../../shared/workflow/orderSupervisor';
import { DelegatingJobStatuses } from '../support/delegatingJobStatuses';
import { deliverOrderMessages, newOrderData, ORDER_TEST_QUEUES, recordingSender } from '../support/orderFixtures';
import { storageClients, uniqueName } from '../support/storage';
import { latch } from '../support/wait';

const QUEUES = ORDER_TEST_QUEUES;
const REPLIES = 'q-replies';
const STUCK = { code: 'STUCK', message: 'payment made no progress after 0 re-drives' };

/**
 * The job store on Azurite, letting another writer in between a caller's read and its write: the caller's write then
 * carries a stale ETag, fails with 412 and is re-applied on fresh state — the store's real conflict path.
 */
class InterleavedJobStore extends DelegatingJobStatuses {
  readonly #hooks: { matches: (update: JobUpdate) => boolean; run: () => Promise<void> }[] = [];

  beforeWrite(matches: (update: JobUpdate) => boolean, run: () => Promise<void>): void {
    this.#hooks.push({ matches, run });
  }

  override async update(
    id: string,
    change: (job: Job) => JobUpdate | undefined,
    options?: JobUpdateOptions,
  ): Promise<Job> {
    if (this.#hooks.length > 0) {
      const current = await this.store.get(id);
      const intended = current ? change(structuredClone(current)) : undefined;
      const index = intended ? this.#hooks.findIndex((hook) => hook.matches(intended)) : -1;
      const [due] = index >= 0 ? this.#hooks.splice(index, 1) : [];
      if (due) await due.run();
    }
    return this.store.update(id, change, options);
  }
}

describe('a step the supervisor gave up on, finishing late (Table Storage)', () => {
  let store: JobStore;
  let statuses: InterleavedJobStore;
  let inventory: InventoryStore;
  let payments: SandboxPaymentGateway;
  let services: OrderServices;
  const sent: { queue: string; body: unknown }[] = [];
  const replies: ReplyMessage[] = [];
  /** The next charge, once it is made at the provider, waits here before its step records it. */
  let chargeHold: { reached: ReturnType<typeof latch>; gate: ReturnType<typeof latch> } | undefined;

  before(async () => {
    const clients = storageClients();
    store = new JobStore(clients.table(uniqueName('jobs')));
    statuses = new InterleavedJobStore(store);
    const deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    inventory = new InventoryStore(clients.table(uniqueName('inventory')));
    payments = new SandboxPaymentGateway(clients.table(uniqueName('payments')));
    const shipping = new SandboxShippingService(clients.table(uniqueName('shipments')));
    await Promise.all([
      store.ensureTable(),
      deadLetters.ensureTable(),
      inventory.ensureTable(),
      payments.ensureTable(),
      shipping.ensureTable(),
    ]);
    const runtime = new JobRuntime({
      statuses,
      deadLetters,
      redelivery: storageRedelivery({ queues: clients.queues, blobs: clients.blobs }),
      definitions: [orderJob],
    });
    const sender = recordingSender(REPLIES, replies, sent);
    // Only reply queues here: a webhook would need a queue client.
    const completion = { jobs: statuses, sender, webhooks: {} as unknown as QueueClient };
    services = {
      runtime,
      jobs: store,
      inventory,
      payments: {
        async charge(key, amountCents, card) {
          const charge = await payments.charge(key, amountCents, card);
          const hold = chargeHold;
          chargeHold = undefined;
          if (hold) {
            hold.reached.open();
            await hold.gate.opened;
          }
          return charge;
        },
        refund: (key, reason) => payments.refund(key, reason),
      },
      shipping,
      email: { send: () => Promise.reject(new Error('no order here gets to its email')) },
      queues: QUEUES,
      sender,
      notifyCompletion: (job) => notifyCompletion(completion, job),
      notifyProgress: () => Promise.resolve(),
      log: () => undefined,
    };
  });

  /** Delivers the queued workflow messages in order until none is left. */
  function drain(): Promise<string[]> {
    return deliverOrderMessages(services, sent);
  }

  /** An order with its stock reserved whose payment step has charged the card and is held before recording it. */
  async function orderInPayment() {
    const sku = uniqueName('SKU-').toUpperCase();
    await inventory.setItem({ sku, name: 'Mug', priceCents: 500, stock: 5 });
    const id = JobStore.newJobId('ord');
    const data = newOrderData({
      lines: [{ sku, name: 'Mug', quantity: 2, priceCents: 500 }],
      totalCents: 1000,
      card: tokenizeCard(TEST_CARDS.succeeds),
      address: { line1: '12 Analytical Row', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
    });
    await services.runtime.create(orderJob, { id, data, correlation: { replyTo: REPLIES } });
    assert.equal(await runOrderStep(services, { jobId: id, step: 'reserve' }), 'done');
    sent.length = 0;
    replies.length = 0;
    const hold = { reached: latch(), gate: latch() };
    chargeHold = hold;
    const step = runOrderStep(services, { jobId: id, step: 'payment' });
    await hold.reached.opened;
    // The supervisor finds no progress and gives up on the payment step while it is still running.
    const report = await superviseOrders(services, {
      stepDeadlineMs: 1000,
      maxRedrives: 0,
      now: new Date(Date.now() + 60_000),
    });
    assert.deepEqual(report.gaveUp, [id]);
    assert.deepEqual(sent, [{ queue: QUEUES.compensate, body: { jobId: id, reason: STUCK } }]);
    return { id, sku, release: hold.gate.open, step };
  }

  /** The charge refunded, the stock back, the order `compensated` for STUCK, the caller told once. */
  async function assertUndoneAndToldOnce(id: string, sku: string) {
    const ledger = await payments.entriesOf(id);
    assert.ok(ledger.charge, 'the card was charged');
    assert.ok(ledger.refund, 'and the charge refunded');
    assert.deepEqual(await inventory.reservationsOf(id, [sku]), [{ sku, quantity: 2, state: 'released' }]);
    assert.equal((await inventory.getItem(sku))?.stock, 5);
    const job = await services.runtime.read(orderJob, id);
    assert.equal(job?.status, 'compensated');
    assert.equal(job?.error?.code, 'STUCK');
    assert.deepEqual([...(job?.data.undone ?? [])].sort(), ['payment', 'reserve']);
    assert.deepEqual(
      replies.map((reply) => `${reply.jobId} ${reply.status} ${reply.error?.code ?? ''}`),
      [`${id} compensated STUCK`],
    );
    assert.ok((await store.events(id)).every((event) => event.kind !== 'cancelled'));
  }

  it("refunds a charge whose 'done' mark landed between compensation's read and its compensating write", async () => {
    const { id, sku, release, step } = await orderInPayment();
    statuses.beforeWrite(
      (update) => update.status === 'compensating',
      async () => {
        release();
        assert.equal(await step, 'done');
      },
    );
    await drain();
    await assertUndoneAndToldOnce(id, sku);
  });

  it('refunds a charge recorded while compensation was undoing, as a compensation, not a cancellation', async () => {
    const { id, sku, release, step } = await orderInPayment();
    statuses.beforeWrite(
      (update) => Array.isArray(update.data?.['undone']),
      async () => {
        release();
        assert.equal(await step, 'raced-with-compensation');
      },
    );
    await drain();
    await assertUndoneAndToldOnce(id, sku);
  });

  it('refunds a charge recorded after compensation ended, and the caller hears one answer', async () => {
    const { id, sku, release, step } = await orderInPayment();
    assert.deepEqual(await drain(), ['compensated']);
    release();
    assert.equal(await step, 'raced-with-compensation');
    assert.deepEqual(await drain(), ['compensated']);
    await assertUndoneAndToldOnce(id, sku);
  });

  it('refunds a charge recorded after compensation ended by a host that died before asking for its undo', async () => {
    const { id, sku, release, step } = await orderInPayment();
    assert.deepEqual(await drain(), ['compensated']);
    // The process dies sending the compensation message that would undo the late charge: its 'done' mark is
    // written on the ended order, and nothing was asked.
    const sender = services.sender;
    services.sender = {
      send: (queue, body, options) =>
        queue === QUEUES.compensate ? Promise.reject(new Error('host killed')) : sender.send(queue, body, options),
    };
    try {
      release();
      await assert.rejects(step, /host killed/);
    } finally {
      services.sender = sender;
    }
    assert.deepEqual((await services.runtime.read(orderJob, id))?.data.done, ['reserve', 'payment']);
    // The payment message was never completed: it comes again, to a live host.
    assert.match(await runOrderStep(services, { jobId: id, step: 'payment' }), /^skipped \(compensated\)/);
    assert.deepEqual(await drain(), ['compensated'], 'nothing asks for the undo: the charge is never refunded');
    await assertUndoneAndToldOnce(id, sku);
  });
});
