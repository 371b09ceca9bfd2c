import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { QueueClient } from '@azure/storage-queue';

import { SalesFacts } from '../../shared/batch/salesFacts';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { PermanentJobError } from '../../shared/jobs/jobErrors';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import { isTerminal, type Job, type JobUpdate, type JobUpdateOptions } from '../../shared/jobs/jobTypes';
import { orderCompletion, type ReplyMessage, type SalesLedger } from '../../shared/workflow/completionNotifier';
import { orderJob } from '../../shared/workflow/orderJob';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { queueSender } from '../../shared/workflow/queueSender';
import { DelegatingJobStatuses } from '../support/delegatingJobStatuses';
import {
  deliverOrderMessages,
  instantShipping,
  ledgerRowsOf,
  oneMugOrder,
  ORDER_TEST_QUEUES,
} from '../support/orderFixtures';
import { storageClients, uniqueName } from '../support/storage';

const QUEUES = ORDER_TEST_QUEUES;

/** The job store on Azurite, in a process that dies right after the write that ends a job has landed, once. */
class DyingJobStore extends DelegatingJobStatuses {
  dieAfterEnding = false;

  override async update(
    id: string,
    change: (job: Job) => JobUpdate | undefined,
    options?: JobUpdateOptions,
  ): Promise<Job> {
    const before = await this.store.get(id);
    const written = await this.store.update(id, change, options);
    if (this.dieAfterEnding && !isTerminal(before?.status ?? 'queued') && isTerminal(written.status)) {
      this.dieAfterEnding = false;
      throw new Error('host killed');
    }
    return written;
  }
}

/** The sales ledger on Azurite, in a process that dies before its next fact lands (after the ending write), once. */
class DyingLedger implements SalesLedger {
  dieBeforeRecording = false;

  constructor(private readonly ledger: SalesFacts) {}

  async record(job: Job): Promise<void> {
    if (this.dieBeforeRecording) {
      this.dieBeforeRecording = false;
      throw new Error('host killed');
    }
    await this.ledger.record(job);
  }
}

/** Reads every message of a queue on Azurite (JSON, base64 as the sender writes it) without taking them. */
async function messagesOf<T>(queue: QueueClient): Promise<T[]> {
  const peeked = await queue.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map(
    (item) => JSON.parse(Buffer.from(item.messageText, 'base64').toString('utf8')) as T,
  );
}

describe('the caller of an order ended just before its process died (Table Storage, queues)', () => {
  const clients = storageClients();
  const jobsTable = uniqueName('jobs');
  const replyQueue = uniqueName('replies-');
  const webhookQueue = uniqueName('webhooks-');
  const replies = clients.queues.getQueueClient(replyQueue);
  const webhooks = clients.queues.getQueueClient(webhookQueue);
  const salesTable = clients.table(uniqueName('sales'));
  let deadLetters: DeadLetterStore;

  before(async () => {
    deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    await Promise.all([
      new JobStore(clients.table(jobsTable)).ensureTable(),
      deadLetters.ensureTable(),
      new SalesFacts(salesTable).ensureTable(),
      replies.create(),
      webhooks.create(),
    ]);
  });

  /**
   * One host process: its own job store (no versions remembered from another), the production completion port over
   * the real sales ledger, the workflow's messages kept for the test to deliver, replies and webhooks sent to the
   * real queues.
   */
  function host() {
    const statuses = new DyingJobStore(new JobStore(clients.table(jobsTable)));
    const ledger = new DyingLedger(new SalesFacts(salesTable));
    const sent: { queue: string; body: unknown }[] = [];
    const real = queueSender(clients.queues);
    const sender = {
      send: (queue: string, body: unknown) => {
        if (queue === replyQueue) return real.send(queue, body);
        sent.push({ queue, body });
        return Promise.resolve();
      },
    };
    const completion = { jobs: statuses, sender, webhooks };
    const services: OrderServices = {
      runtime: new JobRuntime({ statuses, deadLetters, definitions: [orderJob] }),
      jobs: { list: () => Promise.resolve({ jobs: [] }) },
      inventory: { reserve: () => Promise.resolve(), release: () => Promise.resolve(1) },
      payments: {
        charge: (key, amountCents, card) =>
          card.token === 'declined'
            ? Promise.reject(new PermanentJobError('PAYMENT_DECLINED', 'declined'))
            : Promise.resolve({ chargeId: `ch_${key}`, amountCents, cardLast4: card.last4 }),
        refund: () => Promise.resolve(true),
      },
      shipping: instantShipping(),
      email: { send: () => Promise.resolve('sent') },
      queues: QUEUES,
      sender,
      notifyCompletion: orderCompletion(ledger, completion),
      notifyProgress: () => Promise.resolve(),
      log: () => undefined,
    };
    /** Every message taken off the kept queues, in order: the last is the one in hand when the process died. */
    const taken: { queue: string; body: unknown }[] = [];
    /** Delivers the kept messages in order until none is left (or the process dies). */
    async function drain(): Promise<void> {
      await deliverOrderMessages(services, sent, (message) => taken.push(message));
    }
    return { statuses, ledger, services, sent, taken, drain };
  }

  for (const { name, card, outcome } of [
    { name: 'a succeeded order', card: 'tok', outcome: 'succeeded' },
    { name: 'a compensated order', card: 'declined', outcome: 'compensated' },
  ]) {
    it(`tells the caller of ${name} exactly once, from the redelivered message`, async () => {
      const first = host();
      const id = JobStore.newJobId('ord');
      await first.services.runtime.create(orderJob, {
        id,
        data: oneMugOrder(card),
        correlation: { replyTo: replyQueue, callbackUrl: 'https://shop.example.com/hooks/orders' },
      });
      first.statuses.dieAfterEnding = true;
      first.sent.push({ queue: QUEUES.step.reserve, body: { jobId: id, step: 'reserve', cause: 'start' } });
      await assert.rejects(first.drain(), /host killed/);
      // The queue delivers the message whose handler died again, to another process.
      const dying = first.taken.at(-1);
      assert.deepEqual(dying?.queue, outcome === 'succeeded' ? QUEUES.step.email : QUEUES.compensate);
      const stored = await new JobStore(clients.table(jobsTable)).get(id);
      assert.equal(stored?.status, outcome);
      assert.equal(stored?.data['notifyOwed'], true, 'the ending write stored the outbox flag');
      const before = (await messagesOf<ReplyMessage>(replies)).filter((reply) => reply.jobId === id);
      assert.deepEqual(before, [], 'nothing told before the crash');

      const second = host();
      assert.ok(dying);
      second.sent.push(dying, dying); // and once more: a duplicate changes nothing
      await second.drain();

      const told = (await messagesOf<ReplyMessage>(replies)).filter((reply) => reply.jobId === id);
      assert.deepEqual(
        told.map((reply) => reply.status),
        [outcome],
      );
      const hooks = (await messagesOf<{ jobId: string; event: string }>(webhooks)).filter((hook) => hook.jobId === id);
      assert.deepEqual(
        hooks.map((hook) => hook.event),
        [`job.${outcome}`],
      );
      const after = await new JobStore(clients.table(jobsTable)).get(id);
      assert.equal(after?.data['notified'], outcome);
      assert.equal(after?.data['notifyOwed'], undefined, 'the flag is gone from the stored record');
    });
  }

  for (const { name, card, caller, outcome } of [
    { name: 'a succeeded order with no caller to tell', card: 'tok', caller: false, outcome: 'succeeded' },
    { name: 'a succeeded order with a reply queue and a webhook', card: 'tok', caller: true, outcome: 'succeeded' },
    { name: 'a compensated order with no caller to tell', card: 'declined', caller: false, outcome: 'compensated' },
  ]) {
    it(`records ${name} in the sales ledger exactly once, from the redelivered message`, async () => {
      const first = host();
      const id = JobStore.newJobId('ord');
      await first.services.runtime.create(orderJob, {
        id,
        data: oneMugOrder(card),
        correlation: caller ? { replyTo: replyQueue, callbackUrl: 'https://shop.example.com/hooks/orders' } : {},
      });
      first.ledger.dieBeforeRecording = true;
      first.sent.push({ queue: QUEUES.step.reserve, body: { jobId: id, step: 'reserve', cause: 'start' } });
      await assert.rejects(first.drain(), /host killed/);
      const dying = first.taken.at(-1);
      assert.deepEqual(dying?.queue, outcome === 'succeeded' ? QUEUES.step.email : QUEUES.compensate);
      const stored = await new JobStore(clients.table(jobsTable)).get(id);
      assert.equal(stored?.status, outcome);
      assert.deepEqual(await ledgerRowsOf(salesTable, id), [], 'the fact died with the process');

      // Another process gets the message again, twice.
      const second = host();
      assert.ok(dying);
      second.sent.push(dying, dying);
      await second.drain();

      const rows = await ledgerRowsOf(salesTable, id);
      assert.deepEqual(
        rows.map((row) => ({ status: row['status'], totalCents: row['totalCents'], completedAt: row['completedAt'] })),
        [{ status: outcome, totalCents: 500, completedAt: stored?.completedAt }],
      );
      // The nightly report for the day reads it from the ledger.
      const day = (await new SalesFacts(salesTable).page(utcDay(stored?.completedAt))).facts;
      assert.deepEqual(
        day.filter((fact) => fact.orderId === id).map((fact) => `${fact.status} ${fact.totalCents}`),
        [`${outcome} 500`],
      );
      const told = (await messagesOf<ReplyMessage>(replies)).filter((reply) => reply.jobId === id);
      const hooks = (await messagesOf<{ jobId: string; event: string }>(webhooks)).filter((hook) => hook.jobId === id);
      assert.deepEqual(
        told.map((reply) => reply.status),
        caller ? [outcome] : [],
      );
      assert.deepEqual(
        hooks.map((hook) => hook.event),
        caller ? [`job.${outcome}`] : [],
      );
    });
  }
});

function utcDay(iso: string | undefined): string {
  assert.ok(iso, 'an ended order has its completion time');
  return iso.slice(0, 10);
}
