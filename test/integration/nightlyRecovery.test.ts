import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';

import { type BatchCheckpoint, type BatchRun, BatchRunStore } from '../../shared/batch/batchRunStore';
import { emptyAggregate } from '../../shared/batch/dailyReport';
import { nightlyJob, nightlyJobId, type NightlyServices, runNightly } from '../../shared/batch/nightlyBatch';
import { handleNightlyRunMessage } from '../../shared/batch/nightlyMessages';
import { scheduleNightlyRuns } from '../../shared/batch/nightlyRequests';
import { SalesFacts } from '../../shared/batch/salesFacts';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import type { Job, JobUpdate, JobUpdateOptions } from '../../shared/jobs/jobTypes';
import { InventoryStore } from '../../shared/orders/inventoryStore';
import { MAX_DEQUEUE_COUNT } from '../../shared/workflow/orderMessages';
import { DelegatingJobStatuses } from '../support/delegatingJobStatuses';
import { storageClients, uniqueName } from '../support/storage';
import { waitFor } from '../support/wait';

const DAY_MS = 86_400_000;

function initialCheckpoint(): BatchCheckpoint {
  return { phase: 'report', aggregate: emptyAggregate(), itemsDone: 0, findings: {} };
}

/** One host process: once `dead`, every write it tries fails, as nothing of a killed process reaches storage. */
interface Process {
  dead: boolean;
}

class ProcessJobStatuses extends DelegatingJobStatuses {
  constructor(
    store: JobStore,
    private readonly process: Process,
  ) {
    super(store);
  }

  override update(id: string, change: (job: Job) => JobUpdate | undefined, options?: JobUpdateOptions): Promise<Job> {
    if (this.process.dead) return Promise.reject(new Error('host killed'));
    return super.update(id, change, options);
  }
}

/** The run records on Azurite, in a process killed right after the write that marks a run succeeded lands. */
class DyingBatchRunStore extends BatchRunStore {
  dieAfterSucceeded = false;

  constructor(
    table: TableClient,
    leaseMs: number,
    private readonly process: Process,
  ) {
    super(table, leaseMs);
  }

  override async checkpoint(run: BatchRun, checkpoint: BatchCheckpoint, state?: BatchRun['state']): Promise<BatchRun> {
    if (this.process.dead) throw new Error('host killed');
    const written = await super.checkpoint(run, checkpoint, state);
    if (this.dieAfterSucceeded && state === 'succeeded') {
      this.process.dead = true;
      throw new Error('host killed');
    }
    return written;
  }
}

/** The sales ledger on Azurite; `outage` makes its next read the first failure of a storage outage. */
class OutageSalesFacts extends SalesFacts {
  outage = false;

  constructor(
    table: TableClient,
    private readonly process: Process,
  ) {
    super(table);
  }

  override async page(date: string, continuationToken?: string) {
    if (this.outage) {
      // From here on nothing this process writes reaches storage: the run's failure cannot be recorded either.
      this.process.dead = true;
      throw Object.assign(new Error('storage unavailable'), { statusCode: 503 });
    }
    return super.page(date, continuationToken);
  }
}

describe('a nightly run whose host died at the end (Table Storage, blobs)', () => {
  const clients = storageClients();
  const names = {
    jobs: uniqueName('jobs'),
    runs: uniqueName('runs'),
    sales: uniqueName('sales'),
    deadLetters: uniqueName('dl'),
    inventory: uniqueName('inventory'),
    reports: uniqueName('reports-'),
    uploads: uniqueName('uploads-'),
    thumbnails: uniqueName('thumbnails-'),
  };

  before(async () => {
    await Promise.all([
      new JobStore(clients.table(names.jobs)).ensureTable(),
      new BatchRunStore(clients.table(names.runs), 60_000).ensureTable(),
      new SalesFacts(clients.table(names.sales)).ensureTable(),
      new DeadLetterStore(clients.table(names.deadLetters)).ensureTable(),
      new InventoryStore(clients.table(names.inventory)).ensureTable(),
    ]);
  });

  /** One host: its own stores over the test's tables and containers (nothing remembered from another host). */
  function host(leaseMs = 60_000) {
    const process: Process = { dead: false };
    const jobs = new JobStore(clients.table(names.jobs));
    const deadLetters = new DeadLetterStore(clients.table(names.deadLetters));
    const runs = new DyingBatchRunStore(clients.table(names.runs), leaseMs, process);
    const sales = new OutageSalesFacts(clients.table(names.sales), process);
    /** The runs this host asked for again: the message it would queue, and when it becomes visible. */
    const later: { date: string; body: unknown; visibleAt: number }[] = [];
    const services: NightlyServices = {
      runtime: new JobRuntime({
        statuses: new ProcessJobStatuses(jobs, process),
        deadLetters,
        definitions: [nightlyJob],
      }),
      jobs,
      runs,
      sales,
      deadLetters,
      inventory: new InventoryStore(clients.table(names.inventory)),
      inventoryTable: clients.table(names.inventory),
      reports: clients.blobs.getContainerClient(names.reports),
      uploads: clients.blobs.getContainerClient(names.uploads),
      thumbnails: clients.blobs.getContainerClient(names.thumbnails),
      retention: { jobMs: 30 * DAY_MS, deadLetterMs: 30 * DAY_MS },
      superviseStuckOrders: () => Promise.resolve(0),
      log: () => undefined,
      runAgainLater: (date, delayMs, inFlight) => {
        later.push({ date, body: { date, inFlight }, visibleAt: Date.now() + delayMs });
        return Promise.resolve();
      },
    };
    return { services, runs, jobs, sales, later };
  }

  it('a host killed between marking the run succeeded and ending its job: the redelivery ends the job', async () => {
    const date = '2026-11-20';
    const sales = new SalesFacts(clients.table(names.sales));
    await sales.recordMany(date, [
      {
        orderId: 'ord_a',
        status: 'succeeded',
        totalCents: 1500,
        lines: [{ sku: 'MUG-1', quantity: 1, priceCents: 1500 }],
      },
      { orderId: 'ord_b', status: 'failed', totalCents: 700, lines: [], errorCode: 'OUT_OF_STOCK' },
    ]);

    const first = host();
    first.runs.dieAfterSucceeded = true;
    await assert.rejects(runNightly(first.services, date), /host killed/);
    const left = await first.jobs.get(nightlyJobId(date));
    assert.equal(left?.status, 'running', 'what the killed host left: the run record succeeded, its job running');
    assert.equal((await first.runs.get(date))?.state, 'succeeded');

    // The message was never completed: it comes again, to another host.
    const second = host();
    assert.equal(await runNightly(second.services, date), 'already-done');
    const job = await second.jobs.get(nightlyJobId(date));
    assert.equal(job?.status, 'succeeded', 'the job stays running for good');
    assert.equal(job.progress.percent, 100);
    assert.deepEqual(job.result?.['summary'], { orders: 2, revenueCents: 1500 });
    assert.equal(job.result?.['attempt'], 1);
    assert.deepEqual(job.result?.['report'], {
      json: `${names.reports}/daily/${date}.json`,
      csv: `${names.reports}/daily/${date}.csv`,
    });

    // A third delivery finds both ended and writes nothing.
    const written = job.updatedAt;
    assert.equal(await runNightly(host().services, date), 'already-done');
    assert.equal((await second.jobs.get(nightlyJobId(date)))?.updatedAt, written);
  });

  it('a run whose failure could not be recorded, retried within its lease: the date is run again once the lease lapses', async () => {
    const date = '2026-11-21';
    const leaseMs = 1500;
    const first = host(leaseMs);
    first.sales.outage = true;
    await assert.rejects(runNightly(first.services, date)); // the read's error, or the failed write recording it
    assert.equal((await first.runs.get(date))?.state, 'running', 'the run could not be marked failed');

    // Storage is back; the failed message's retry comes within the lease, and finds the run in flight.
    const second = host(leaseMs);
    assert.equal(await runNightly(second.services, date), 'in-flight');
    assert.equal(second.later.length, 1, 'nothing runs the date again: it stays running for good');
    const [again] = second.later;
    assert.equal(again?.date, date);
    assert.ok((again?.visibleAt ?? 0) > Date.parse((await second.runs.get(date))?.heartbeatAt ?? '') + leaseMs);

    // That message comes when the lease has lapsed, and its delivery takes the run over.
    const third = host(leaseMs);
    await waitFor('the run message to become visible', () => Date.now() >= (again?.visibleAt ?? 0), 10_000);
    assert.equal(await runNightly(third.services, date), 'succeeded');
    assert.equal((await third.jobs.get(nightlyJobId(date)))?.status, 'succeeded');
    assert.equal(third.later.length, 0);
  });

  it("a night whose timer could not queue its date: the next night's timer queues it too", async () => {
    const runs = new BatchRunStore(clients.table(uniqueName('runs')), 60_000);
    await runs.ensureTable();
    const claim = await runs.claim('2026-10-01', nightlyJobId('2026-10-01'), initialCheckpoint(), false);
    assert.equal(claim.kind, 'claimed');
    if (claim.kind === 'claimed') await runs.checkpoint(claim.run, claim.run.checkpoint, 'succeeded');
    const schedule = { isPastDue: false, maxCatchUpDays: 3 };

    // 02:00 on the 3rd: storage refuses the message. The host records the occurrence as run all the same (a failed
    // invocation does not stop the schedule), so the next occurrence is not past due.
    const refusing = {
      send: () => Promise.reject(Object.assign(new Error('storage unavailable'), { statusCode: 503 })),
    };
    await assert.rejects(
      scheduleNightlyRuns(
        { runs, runQueue: 'nightly-run', sender: refusing },
        { ...schedule, now: new Date('2026-10-03T02:00:00Z'), last: new Date('2026-10-02T02:00:00Z') },
      ),
      /storage unavailable/,
    );

    const sent: unknown[] = [];
    const sender = {
      send: (_queue: string, body: unknown) => {
        sent.push(body);
        return Promise.resolve();
      },
    };
    const dates = await scheduleNightlyRuns(
      { runs, runQueue: 'nightly-run', sender },
      { ...schedule, now: new Date('2026-10-04T02:00:00Z'), last: new Date('2026-10-03T02:00:00Z') },
    );
    assert.deepEqual(dates, ['2026-10-02', '2026-10-03'], 'the 2nd is never reported');
    assert.deepEqual(sent, [{ date: '2026-10-02' }, { date: '2026-10-03' }]);
  });

  it('a run that takes its host down every time, its message back within the lease: given up after a few hosts, not queued again for good', async () => {
    const date = '2026-11-22';
    const leaseMs = 1000;
    // The queue, as the host uses it: a delivery that throws comes back at once (5 s against a 120 s lease) until
    // its dequeue count reaches the limit, then goes to the poison queue; one that returns is completed.
    const queue: { body: unknown; visibleAt: number; dequeueCount: number }[] = [
      { body: { date }, visibleAt: Date.now(), dequeueCount: 0 },
    ];
    let hostsDown = 0;
    let poisoned = 0;
    let deliveries = 0;
    while (queue.length > 0 && deliveries < 20) {
      queue.sort((a, b) => a.visibleAt - b.visibleAt);
      const message = queue.shift();
      if (!message) break;
      await waitFor('the message to become visible', () => Date.now() >= message.visibleAt, 10_000, 20);
      deliveries++;
      message.dequeueCount++;
      const delivery = host(leaseMs);
      delivery.sales.outage = true; // its run dies reading its first page, every time, and can record nothing
      try {
        await handleNightlyRunMessage(delivery.services, message.body);
      } catch {
        if (delivery.sales.outage && (await delivery.runs.get(date))?.state === 'running') hostsDown++;
        if (message.dequeueCount >= MAX_DEQUEUE_COUNT) poisoned++;
        else queue.push({ ...message, visibleAt: Date.now() });
      }
      for (const again of delivery.later) queue.push({ body: again.body, visibleAt: again.visibleAt, dequeueCount: 0 });
    }
    assert.deepEqual(
      queue.map((message) => message.body),
      [],
      `still queued after ${deliveries} deliveries and ${hostsDown} hosts taken down: it goes round for good`,
    );
    assert.equal(poisoned, 1, 'its last message is poisoned: a dead letter a person sees and can replay');
    assert.ok(hostsDown <= 2 * MAX_DEQUEUE_COUNT, `${hostsDown} hosts taken down`);
  });
});
