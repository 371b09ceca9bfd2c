import assert from 'node:assert/strict';
import { before, beforeEach, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';
import { z } from 'zod';

import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { defineJob } from '../../shared/jobs/jobDefinition';
import { indexKeyOf } from '../../shared/jobs/jobIndex';
import type { JobStatusPort } from '../../shared/jobs/jobPorts';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import type { Job } from '../../shared/jobs/jobTypes';
import { storageClients, uniqueName } from '../support/storage';
import { latch, waitFor } from '../support/wait';

const WRITE_METHODS = ['createEntity', 'upsertEntity', 'updateEntity', 'deleteEntity', 'submitTransaction'] as const;

/** Records each write the client makes, as `job …` or `index …` (a listing row) and the method. */
function recordWrites(table: TableClient): string[] {
  const log: string[] = [];
  for (const method of WRITE_METHODS) {
    const original = (table[method] as (...args: unknown[]) => Promise<unknown>).bind(table);
    Object.defineProperty(table, method, {
      value: (...args: unknown[]) => {
        const first = args[0];
        const partition =
          typeof first === 'string'
            ? first
            : typeof first === 'object' && first !== null && 'partitionKey' in first
              ? String(first.partitionKey)
              : '';
        log.push(`${partition.startsWith('idx-') ? 'index' : 'job'} ${method}`);
        return original(...args);
      },
    });
  }
  return log;
}

describe('listing a job made by the attempt that runs it (Table Storage)', () => {
  let table: TableClient;
  let store: JobStore;
  let deadLetters: DeadLetterStore;
  let log: string[];
  let type: string;
  /** What the next attempt does. */
  let attempt: () => Promise<{ n: number }>;
  const jobOf = () =>
    defineJob<{ n: number }, { n: number }>({ type, data: z.object({ n: z.number() }), run: () => attempt() });
  const made = { create: { data: { n: 1 } } };

  /** The listing status in the job's index row, or undefined when it has none. */
  async function listedAs(job: Pick<Job, 'id' | 'createdAt'>): Promise<string | undefined> {
    const key = indexKeyOf(job);
    try {
      return String((await table.getEntity(key.partitionKey, key.rowKey))['status']);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  async function jobOfId(id: string): Promise<Job> {
    const job = await store.get(id);
    assert.ok(job, `job ${id} exists`);
    return job;
  }

  before(async () => {
    const clients = storageClients();
    table = clients.table(uniqueName('jobs'));
    log = recordWrites(table);
    store = new JobStore(table);
    deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    await Promise.all([store.ensureTable(), deadLetters.ensureTable()]);
  });

  beforeEach(() => {
    type = uniqueName('t');
    attempt = () => Promise.resolve({ n: 1 });
    log.length = 0;
  });

  it('lists a job that ends within the grace with its end: three table writes in all', async () => {
    // A grace no test run outlasts: the job must end within it.
    const runtime = new JobRuntime({ statuses: store, deadLetters, listingGraceMs: 60_000 });
    const id = JobStore.newJobId();
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    assert.deepEqual(log, ['job createEntity', 'job updateEntity', 'index upsertEntity']);
    assert.equal(await listedAs(await jobOfId(id)), 'succeeded');
    assert.deepEqual(
      (await store.list({ type })).jobs.map((job) => [job.id, job.status]),
      [[id, 'succeeded']],
    );
  });

  it('lists a job still running after the grace as active while it runs, and as succeeded after', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, listingGraceMs: 50 });
    const gate = latch();
    attempt = async () => {
      await gate.opened;
      return { n: 1 };
    };
    const id = JobStore.newJobId();
    const running = runtime.execute(jobOf(), id, made);
    const listed = await waitFor('the running job in the listing', async () => {
      const page = await store.list({ type, status: 'running' });
      return page.jobs.length > 0 ? page.jobs : undefined;
    });
    assert.deepEqual(
      listed.map((job) => job.id),
      [id],
    );
    assert.equal(await listedAs(await jobOfId(id)), 'active');
    gate.open();
    assert.equal((await running).outcome, 'succeeded');
    assert.equal(await listedAs(await jobOfId(id)), 'succeeded');
    assert.deepEqual(
      (await store.list({ type })).jobs.map((job) => [job.id, job.status]),
      [[id, 'succeeded']],
    );
    assert.deepEqual(log, ['job createEntity', 'index createEntity', 'job updateEntity', 'index upsertEntity']);
  });

  it('never lets a slow grace write overwrite the end: the end waits for it', async () => {
    const reached = latch();
    const slow = latch();
    let statusWhenLanding: string | undefined;
    let landed = false;
    let started = false;
    const statuses: JobStatusPort = {
      create: (input) => store.create(input),
      get: (id) => store.get(id),
      update: (id, change, options) => store.update(id, change, options),
      ensureListed: async (job) => {
        started = true;
        reached.open();
        await slow.opened;
        statusWhenLanding = (await store.get(job.id))?.status;
        await store.ensureListed(job);
        landed = true;
      },
    };
    const runtime = new JobRuntime({ statuses, deadLetters, listingGraceMs: 20 });
    attempt = async () => {
      await reached.opened;
      return { n: 1 };
    };
    const id = JobStore.newJobId();
    const running = runtime.execute(jobOf(), id, made);
    // Polled, not awaited on the latch: the grace timer is unref'd, and only pending I/O or timers keep a test alive.
    await waitFor('the grace write under way', () => started, 5_000, 5);
    // The attempt has returned; give an end that does not wait every chance to be written before the grace write.
    await waitFor('an end written too early', async () => (await store.get(id))?.status === 'succeeded', 500, 20).catch(
      () => undefined,
    );
    slow.open();
    assert.equal((await running).outcome, 'succeeded');
    assert.equal(landed, true, 'the grace write landed before execute returned');
    assert.equal(statusWhenLanding, 'running');
    assert.equal(await listedAs(await jobOfId(id)), 'succeeded');
  });

  it('leaves a row a listing-status change wrote as it is: the grace write only fills a gap', async () => {
    const id = JobStore.newJobId();
    const { job: running } = await store.create({ id, type, status: 'running', attempts: 1, deferListing: true });
    assert.equal(await listedAs(running), undefined);
    await store.update(id, () => ({ status: 'cancelled' }));
    await store.ensureListed(running);
    assert.equal(await listedAs(running), 'cancelled');
  });

  it('lists a job whose host died mid-attempt when its redelivery ends it', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, listingGraceMs: 60_000 });
    const id = JobStore.newJobId();
    // What an attempt whose host died leaves: the job created running, unlisted (its grace never came).
    const { job } = await store.create({
      id,
      type,
      status: 'running',
      attempts: 1,
      data: { n: 1 },
      deferListing: true,
    });
    assert.equal(await listedAs(job), undefined);
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    assert.equal((await jobOfId(id)).attempts, 2);
    assert.equal(await listedAs(job), 'succeeded');
  });

  it('lists a job whose attempt failed while it waits for the retry, and a poisoned one as failed', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, listingGraceMs: 60_000 });
    const id = JobStore.newJobId();
    attempt = () => Promise.reject(Object.assign(new Error('storage busy'), { code: 'STORAGE_BUSY' }));
    await assert.rejects(runtime.execute(jobOf(), id, made), /storage busy/);
    const job = await jobOfId(id);
    assert.equal(job.status, 'running');
    assert.equal(await listedAs(job), 'active');

    const crashed = JobStore.newJobId();
    const { job: unlisted } = await store.create({
      id: crashed,
      type,
      status: 'running',
      attempts: 1,
      data: { n: 1 },
      deferListing: true,
    });
    await runtime.recordPoison(
      { poisonQueue: 'work-poison', messageId: uniqueName('m'), insertedAt: new Date(), text: '{}' },
      { kind: 'queue', queue: 'work' },
      crashed,
      5,
    );
    assert.equal(await listedAs(unlisted), 'failed');
    assert.deepEqual(
      (await store.list({ type, status: 'failed' })).jobs.map((listed) => listed.id),
      [crashed],
    );
  });

  it('deletes a job that has no listing row yet', async () => {
    const id = JobStore.newJobId();
    await store.create({ id, type, status: 'running', attempts: 1, deferListing: true });
    assert.equal(await store.delete(id), 1);
    assert.equal(await store.get(id), undefined);
  });

  it('still lists a job created to wait in a queue at once', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    const { job } = await runtime.create(jobOf(), { id, data: { n: 1 } });
    assert.equal(await listedAs(job), 'active');
    assert.deepEqual(log, ['job createEntity', 'index upsertEntity']);
  });
});
