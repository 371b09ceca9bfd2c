import assert from 'node:assert/strict';
import { before, beforeEach, describe, it } from 'node:test';

import { odata, type TableClient } from '@azure/data-tables';
import { z } from 'zod';

import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import { defineJob } from '../../shared/jobs/jobDefinition';
import { indexKeyOf } from '../../shared/jobs/jobIndex';
import type { JobStatusPort } from '../../shared/jobs/jobPorts';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import type { Job } from '../../shared/jobs/jobTypes';
import { DelegatingJobStatuses } from '../support/delegatingJobStatuses';
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

describe('a job made by the attempt that runs it: written by its first write (Table Storage)', () => {
  let table: TableClient;
  let store: JobStore;
  let deadLetters: DeadLetterStore;
  let log: string[];
  /** How many of the next listing-row writes fail as a storage outage would (after the job's own write landed). */
  let failIndexWrites = 0;
  /** Runs before a listing-row write fails that way (another caller meeting the job meanwhile). */
  let beforeIndexFailure: (() => Promise<void>) | undefined;
  /**
   * How many of the next job inserts (`createEntity`) land but answer 409, as a retry of an insert whose response was
   * lost does (the SDK retries a timed-out or reset request, and the retry meets the entity the first one wrote);
   * likewise replaces (`updateEntity`), which answer 412.
   */
  const lostResponses = { createEntity: 0, updateEntity: 0 };
  /** Runs after the next read of a job's status entity, before it returns (a writer in between). */
  let afterJobRead: (() => Promise<void>) | undefined;
  let type: string;
  /** What the next attempt does. */
  let attempt: () => Promise<{ n: number }>;
  /** Makes the next attempts wait until the returned gate opens, then do `then`: an attempt held while it runs. */
  function holdAttempt(then: () => Promise<{ n: number }>): ReturnType<typeof latch> {
    const gate = latch();
    attempt = async (...args) => {
      await gate.opened;
      return then(...args);
    };
    return gate;
  }
  const jobOf = () =>
    defineJob<{ n: number }, { n: number }>({ type, data: z.object({ n: z.number() }), run: () => attempt() });
  /** Not read first: the first write meets whatever another delivery wrote. */
  const made = { create: { data: { n: 1 }, rerunnable: true } };
  const transient = () => Promise.reject(Object.assign(new Error('storage busy'), { code: 'STORAGE_BUSY' }));

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
    const upsert = table.upsertEntity.bind(table);
    Object.defineProperty(table, 'upsertEntity', {
      value: (...args: Parameters<TableClient['upsertEntity']>) => {
        if (failIndexWrites > 0 && args[0].partitionKey?.startsWith('idx-')) {
          failIndexWrites--;
          const meanwhile = beforeIndexFailure;
          beforeIndexFailure = undefined;
          return (meanwhile ?? (() => Promise.resolve()))().then(() =>
            Promise.reject(Object.assign(new Error('index unavailable'), { statusCode: 503 })),
          );
        }
        return upsert(...args);
      },
      configurable: true,
    });
    const read = table.getEntity.bind(table);
    Object.defineProperty(table, 'getEntity', {
      value: async (...args: Parameters<TableClient['getEntity']>) => {
        const found = await read(...args);
        const meanwhile = args[1] === 'status' ? afterJobRead : undefined;
        if (meanwhile) {
          afterJobRead = undefined;
          await meanwhile();
        }
        return found;
      },
      configurable: true,
    });
    for (const [method, statusCode, code] of [
      ['createEntity', 409, 'EntityAlreadyExists'],
      ['updateEntity', 412, 'UpdateConditionNotSatisfied'],
    ] as const) {
      const write = (table[method] as (entity: { partitionKey: string }, ...rest: unknown[]) => Promise<unknown>).bind(
        table,
      );
      Object.defineProperty(table, method, {
        value: async (entity: { partitionKey: string }, ...rest: unknown[]) => {
          const written = await write(entity, ...rest);
          if (lostResponses[method] > 0 && !entity.partitionKey.startsWith('idx-')) {
            lostResponses[method]--;
            throw Object.assign(new Error(code), { statusCode });
          }
          return written;
        },
        configurable: true,
      });
    }
    log = recordWrites(table);
    store = new JobStore(table);
    deadLetters = new DeadLetterStore(clients.table(uniqueName('dl')));
    await Promise.all([store.ensureTable(), deadLetters.ensureTable()]);
  });

  beforeEach(() => {
    type = uniqueName('t');
    attempt = () => Promise.resolve({ n: 1 });
    log.length = 0;
    failIndexWrites = 0;
    beforeIndexFailure = undefined;
    lostResponses.createEntity = 0;
    lostResponses.updateEntity = 0;
    afterJobRead = undefined;
  });

  it('writes a job that ends within the grace once, with its end and its listing row: two table writes', async () => {
    // A grace no test run outlasts: the job must end within it.
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const id = JobStore.newJobId();
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    assert.deepEqual(log, ['job createEntity', 'index upsertEntity']);
    const job = await jobOfId(id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.attempts, 1);
    assert.equal(await listedAs(job), 'succeeded');
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started', 'succeeded'],
    );
    assert.deepEqual(
      (await store.list({ type })).jobs.map((listed) => [listed.id, listed.status]),
      [[id, 'succeeded']],
    );
  });

  it('writes a job still running after the grace as running and listed, then its end over it', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 50 });
    const gate = holdAttempt(() => Promise.resolve({ n: 1 }));
    const id = JobStore.newJobId();
    const running = runtime.execute(jobOf(), id, made);
    const listed = await waitFor('the running job in the listing', async () => {
      const page = await store.list({ type, status: 'running' });
      return page.jobs.length > 0 ? page.jobs : undefined;
    });
    assert.deepEqual(
      listed.map((job) => [job.id, job.attempts]),
      [[id, 1]],
    );
    assert.equal(await listedAs(await jobOfId(id)), 'active');
    gate.open();
    assert.equal((await running).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1);
    assert.equal(await listedAs(job), 'succeeded');
    assert.deepEqual(log, ['job createEntity', 'index upsertEntity', 'job updateEntity', 'index upsertEntity']);
  });

  it('writes the end only after a slow grace write has landed, on the version it left', async () => {
    const reached = latch();
    const slow = latch();
    let started = false;
    let graceLanded = false;
    const statuses = new (class extends DelegatingJobStatuses {
      override async update(...args: Parameters<JobStatusPort['update']>): Promise<Job> {
        if (!started) {
          started = true;
          reached.open();
          await slow.opened;
          const written = await super.update(...args);
          graceLanded = true;
          return written;
        }
        assert.equal(graceLanded, true, 'the end waited for the grace write');
        return super.update(...args);
      }
    })(store);
    const runtime = new JobRuntime({ statuses, deadLetters, unwrittenGraceMs: 20 });
    attempt = async () => {
      await reached.opened;
      // Released once every pending promise has run: an end written without waiting would have started by then.
      setImmediate(slow.open);
      return { n: 1 };
    };
    const id = JobStore.newJobId();
    const running = runtime.execute(jobOf(), id, made);
    // Polled, not awaited on the latch: the grace timer is unref'd, and only pending I/O or timers keep a test alive.
    await waitFor('the grace write under way', () => started, 5_000, 5);
    assert.equal((await running).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1, 'the end did not take the grace write for another delivery');
    assert.equal(await listedAs(job), 'succeeded');
    assert.deepEqual(log, ['job createEntity', 'index upsertEntity', 'job updateEntity', 'index upsertEntity']);
  });

  it('counts itself the next attempt of a job another delivery wrote meanwhile (its host died after the grace)', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const id = JobStore.newJobId();
    // What an attempt whose host died after its grace leaves: the job written running, listed.
    await store.create({ id, type, status: 'running', attempts: 1, data: { n: 1 } });
    log.length = 0;
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.attempts, 2);
    assert.equal(await listedAs(job), 'succeeded');
    assert.deepEqual((await store.events(id)).map((event) => event.message).slice(1), ['attempt 2 started', 'done']);
    // Not read first (rerunnable): the rejected insert, the read (not a table write) and the update.
    assert.deepEqual(log, ['job createEntity', 'job updateEntity', 'index upsertEntity']);
  });

  it('leaves a job another delivery ended as it is, and reports it already finished', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const id = JobStore.newJobId();
    await store.create({ id, type, status: 'running', attempts: 1, data: { n: 1 } });
    await store.update(id, () => ({ status: 'succeeded', result: { n: 7 } }));
    const before = await jobOfId(id);
    log.length = 0;
    const executed = await runtime.execute(jobOf(), id, made);
    assert.equal(executed.outcome, 'already-finished');
    assert.deepEqual(log, ['job createEntity'], 'one rejected insert, nothing written');
    assert.deepEqual(await jobOfId(id), before);
  });

  it('writes a job whose attempt failed, listed as active for its retry, which then counts as attempt 2', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const id = JobStore.newJobId();
    attempt = transient;
    await assert.rejects(runtime.execute(jobOf(), id, made), /storage busy/);
    const failedOnce = await jobOfId(id);
    assert.equal(failedOnce.status, 'running');
    assert.equal(failedOnce.error?.code, 'STORAGE_BUSY');
    assert.equal(await listedAs(failedOnce), 'active');
    attempt = () => Promise.resolve({ n: 1 });
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 2);
    assert.equal(job.error, undefined);
    assert.equal(await listedAs(job), 'succeeded');
  });

  it("takes back a first write whose listing row failed: the next write is still this attempt's first", async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 20 });
    const gate = holdAttempt(() => Promise.resolve({ n: 1 }));
    failIndexWrites = 1;
    const id = JobStore.newJobId();
    const running = runtime.execute(jobOf(), id, made);
    // The grace's insert landed, its listing row did not.
    await waitFor('the grace write tried', () => failIndexWrites === 0, 5_000, 5);
    gate.open();
    assert.equal((await running).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1, "the end took its own attempt's record for another delivery");
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started', 'succeeded'],
    );
    assert.equal(await listedAs(job), 'succeeded');
  });

  for (const [what, options] of [
    ['read first', { create: { data: { n: 1 } } }],
    ['rerunnable', made],
  ] as const) {
    it(`lists a job whose end was written but not its listing row, when its work is delivered again (${what})`, async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
      const id = JobStore.newJobId();
      failIndexWrites = 1;
      await assert.rejects(runtime.execute(jobOf(), id, options), /index unavailable/);
      // The host retries the message or blob whose function failed.
      await runtime.execute(jobOf(), id, options);
      const job = await jobOfId(id);
      assert.equal(job.status, 'succeeded');
      assert.equal(await listedAs(job), 'succeeded', 'the ended job is in no listing');
      assert.deepEqual(
        (await store.list({ type })).jobs.map((listed) => [listed.id, listed.status]),
        [[id, 'succeeded']],
      );
    });
  }

  it('puts back an end whose listing row failed: the redelivery ends the job again and lists it', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    await runtime.create(jobOf(), { id, data: { n: 1 } });
    failIndexWrites = 1;
    await assert.rejects(runtime.execute(jobOf(), id), /index unavailable/);
    // The host retries the message whose function failed.
    assert.equal((await runtime.execute(jobOf(), id)).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(await listedAs(job), 'succeeded', 'the ended job is listed as active');
    assert.deepEqual(
      (await store.list({ type, status: 'succeeded' })).jobs.map((listed) => listed.id),
      [id],
    );
  });

  it('inserts a draft whose first write spills its timeline, in one transaction, and lists it', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const long = 'x'.repeat(3_900);
    const spilling = defineJob<{ n: number }, { n: number }>({
      type,
      data: z.object({ n: z.number() }),
      run: async (_job, context) => {
        await context.checkpoint({
          events: Array.from({ length: 5 }, (_, i) => ({ kind: 'note', message: `${i} ${long}` })),
        });
        return { n: 1 };
      },
    });
    const id = JobStore.newJobId();
    assert.equal((await runtime.execute(spilling, id, made)).outcome, 'succeeded');
    assert.deepEqual(log.slice(0, 2), ['job submitTransaction', 'index upsertEntity']);
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1);
    assert.equal(await listedAs(job), 'succeeded');
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started', 'note', 'note', 'note', 'note', 'note', 'succeeded'],
    );
  });

  it('knows its own insert when the response was lost and the retry met it: written once, listed', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
    const id = JobStore.newJobId();
    lostResponses.createEntity = 1;
    assert.equal((await runtime.execute(jobOf(), id, made)).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1);
    assert.equal(await listedAs(job), 'succeeded', 'the ended job is in no listing');
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started', 'succeeded'],
    );
  });

  it('knows its own update when the response was lost and the retry met it: the attempt counted once', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    await runtime.create(jobOf(), { id, data: { n: 1 } });
    lostResponses.updateEntity = 1;
    assert.equal((await runtime.execute(jobOf(), id)).outcome, 'succeeded');
    const job = await jobOfId(id);
    assert.equal(job.attempts, 1, 'the start was written twice');
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started', 'succeeded'],
    );
  });

  it('knows its own created job when the response was lost and the retry met it: created, listed', async () => {
    const id = JobStore.newJobId();
    lostResponses.createEntity = 1;
    const { job, created } = await store.create({ id, type, data: { n: 1 } });
    assert.equal(created, true);
    assert.equal(await listedAs(job), 'active', 'the created job is in no listing');
  });

  it('takes back a created job whose listing row failed: creating it again writes and lists it', async () => {
    const id = JobStore.newJobId();
    failIndexWrites = 1;
    await assert.rejects(store.create({ id, type, data: { n: 1 } }), /index unavailable/);
    const { job, created } = await store.create({ id, type, data: { n: 1 } });
    assert.equal(created, true);
    assert.equal(await listedAs(job), 'active');
  });

  it('still writes and lists a job created to wait in a queue at once', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    const { job } = await runtime.create(jobOf(), { id, data: { n: 1 } });
    assert.equal(await listedAs(job), 'active');
    assert.deepEqual(log, ['job createEntity', 'index upsertEntity']);
  });

  it('writes nothing of an attempt on top of a cancellation that landed while it ran (its ETag went stale)', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    await runtime.create(jobOf(), { id, data: { n: 1 } });
    const gate = holdAttempt(() => Promise.resolve({ n: 2 }));
    const running = runtime.execute(jobOf(), id);
    await waitFor('the attempt running', async () => (await store.get(id))?.status === 'running', 10_000);
    await store.update(id, () => ({
      status: 'cancelled',
      error: { code: 'CANCELLED', message: 'cancelled by its owner' },
    }));
    gate.open();
    assert.equal((await running).outcome, 'already-finished');
    const job = await jobOfId(id);
    assert.equal(job.status, 'cancelled');
    assert.equal(job.result, undefined, 'no result written on top');
    assert.ok(!(await store.events(id)).some((event) => event.kind === 'succeeded'));
    assert.equal(await listedAs(job), 'cancelled');
  });

  it('leaves no listing row behind a job taken back while another caller that met it listed it', async () => {
    const runtime = new JobRuntime({ statuses: store, deadLetters });
    const id = JobStore.newJobId();
    failIndexWrites = 1;
    // An HTTP retry meets the job between its insert and its row's failed write: it finds no row, and writes one.
    beforeIndexFailure = async () => {
      assert.equal((await store.create({ id, type, data: { n: 1 } })).created, false);
    };
    await assert.rejects(runtime.create(jobOf(), { id, data: { n: 1 } }), /index unavailable/);
    assert.equal(await store.get(id), undefined, 'taken back');
    const rows = [];
    for await (const row of table.listEntities({ queryOptions: { filter: odata`jobId eq ${id}` } })) rows.push(row);
    assert.deepEqual(rows, [], 'no row points at a job that does not exist (retention would never remove it)');
  });

  describe("when the process dies between a job's write and its listing row's", () => {
    /** What a host killed right after the job's write leaves: the job, and its row missing or as it was. */
    async function loseRow(job: Pick<Job, 'id' | 'createdAt'>, leftAs?: 'active'): Promise<void> {
      const key = indexKeyOf(job);
      if (leftAs) await table.upsertEntity({ ...key, jobId: job.id, type, status: leftAs, createdAt: job.createdAt });
      else await table.deleteEntity(key.partitionKey, key.rowKey);
      log.length = 0;
    }

    /** A job that succeeded, whose row the host that ended it left as active (it died before the row's write). */
    async function endedButListedActive(runtime: JobRuntime): Promise<{ id: string; job: Job }> {
      const id = JobStore.newJobId();
      await runtime.create(jobOf(), { id, data: { n: 1 } });
      assert.equal((await runtime.execute(jobOf(), id)).outcome, 'succeeded');
      const job = await jobOfId(id);
      await loseRow(job, 'active');
      return { id, job };
    }

    for (const [what, options] of [
      ['read first', { create: { data: { n: 1 } } }],
      ['rerunnable', made],
    ] as const) {
      it(`lists the ended job when its work is delivered again, so listings and retention find it (${what})`, async () => {
        const runtime = new JobRuntime({ statuses: store, deadLetters, unwrittenGraceMs: 60_000 });
        const id = JobStore.newJobId();
        assert.equal((await runtime.execute(jobOf(), id, options)).outcome, 'succeeded');
        const job = await jobOfId(id);
        await loseRow(job);
        assert.deepEqual((await store.list({ type })).jobs, [], 'unlisted, as the dead host left it');
        // The host never finished the function, so the blob or message comes again.
        assert.equal((await runtime.execute(jobOf(), id, options)).outcome, 'already-finished');
        assert.equal(await listedAs(job), 'succeeded');
        assert.deepEqual(
          (await store.list({ type, status: 'succeeded' })).jobs.map((listed) => listed.id),
          [id],
        );
        const later = new Date(Date.parse(job.createdAt) + 1000);
        assert.ok(
          (await store.listedBefore(later, 1000)).some((entry) => entry.jobId === id),
          'retention would never delete it',
        );
      });
    }

    it('lists an ended job still listed as active under its end, when its message comes again', async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters });
      const { id, job } = await endedButListedActive(runtime);
      assert.deepEqual((await store.list({ type, status: 'succeeded' })).jobs, []);
      assert.equal((await runtime.execute(jobOf(), id)).outcome, 'already-finished');
      assert.equal(await listedAs(job), 'succeeded');
      assert.deepEqual(log, ['index updateEntity'], 'one write: the row');
    });

    it('lists a job created before, when its creator asks again (an HTTP retry)', async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters });
      const id = JobStore.newJobId();
      const { job } = await runtime.create(jobOf(), { id, data: { n: 1 } });
      await loseRow(job);
      const again = await runtime.create(jobOf(), { id, data: { n: 1 } });
      assert.equal(again.created, false);
      assert.equal(await listedAs(job), 'active');
      assert.deepEqual(log, ['job createEntity', 'index createEntity']);
    });

    it('writes nothing when the row is right: a redelivery of an ended job costs one read more', async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters });
      const id = JobStore.newJobId();
      assert.equal((await runtime.execute(jobOf(), id, { create: { data: { n: 1 } } })).outcome, 'succeeded');
      log.length = 0;
      assert.equal((await runtime.execute(jobOf(), id, { create: { data: { n: 1 } } })).outcome, 'already-finished');
      assert.deepEqual(log, []);
    });

    it('does not list a job under what a stale read of it says: the job read again after the row decides', async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters });
      const id = JobStore.newJobId();
      const { job } = await runtime.create(jobOf(), { id, data: { n: 1 } });
      // A caller that read the job as failed, since reopened by a replay (queued, its row written back to active).
      const stale = { ...job, status: 'failed' as const };
      log.length = 0;
      assert.equal(await store.ensureListed(stale), false);
      assert.equal(await listedAs(job), 'active');
      assert.deepEqual(log, []);
    });

    it('writes no row for a job retention deletes while the row is being checked, and does not fail for it', async () => {
      const runtime = new JobRuntime({ statuses: store, deadLetters });
      const { id, job } = await endedButListedActive(runtime);
      // Retention deletes the job and its row after ensure read them both.
      afterJobRead = async () => {
        await store.delete(id);
      };
      assert.equal(await store.ensureListed(job), false);
      assert.equal(await listedAs(job), undefined);
    });
  });
});
