import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';

import { purgeJobsPage } from '../../shared/batch/retention';
import { InvalidContinuationTokenError } from '../../shared/jobs/jobIndex';
import { JobStore } from '../../shared/jobs/jobStore';
import { JobTooLargeError } from '../../shared/jobs/jobTypes';
import { storageClients, uniqueName } from '../support/storage';

describe('job status store (Table Storage)', () => {
  let store: JobStore;
  let table: TableClient;

  before(async () => {
    table = storageClients().table(uniqueName('jobs').replace(/-/g, ''));
    store = new JobStore(table);
    await store.ensureTable();
  });

  it('creates once per id and reads it back', async () => {
    const id = JobStore.newJobId();
    const first = await store.create({ id, type: 'demo', data: { a: 1 } });
    assert.equal(first.created, true);
    const second = await store.create({ id, type: 'demo', data: { a: 2 } });
    assert.equal(second.created, false);
    assert.deepEqual(second.job.data, { a: 1 });
    const read = await store.get(id);
    assert.equal(read?.status, 'queued');
    assert.equal(await store.get(JobStore.newJobId()), undefined);
  });

  it('creates a job already running, with its start on the timeline, and lists it at once', async () => {
    const type = `running${Date.now()}`;
    const id = JobStore.newJobId();
    await store.create({
      id,
      type,
      status: 'running',
      attempts: 1,
      events: [{ kind: 'started', message: 'attempt 1 started' }],
    });
    const listed = await store.list({ type });
    assert.deepEqual(
      listed.jobs.map((job) => [job.id, job.status, job.attempts]),
      [[id, 'running', 1]],
    );
    assert.deepEqual(
      (await store.events(id)).map((event) => event.kind),
      ['created', 'started'],
    );
  });

  it('makes unguessable ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => JobStore.newJobId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.match(id, /^job_[A-Za-z0-9_-]{22}$/);
  });

  it('applies concurrent updates one by one (ETag retries lose none)', async () => {
    const id = JobStore.newJobId();
    await store.create({ id, type: 'demo', data: { counter: 0 } });
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.update(id, (job) => ({ data: { counter: Number(job.data['counter']) + 1 } }), { maxAttempts: 100 }),
      ),
    );
    assert.equal((await store.get(id))?.data['counter'], 20);
  });

  it('loses no update when concurrent writers of the same millisecond would write the same entity', async (t) => {
    const id = JobStore.newJobId();
    await store.create({ id, type: 'demo', data: { counter: 0 } });
    const basis = await store.get(id);
    assert.ok(basis);
    // Every write stamped with one time: two increments from one version give identical entities, and the loser of
    // the race must still see its refusal as another writer's, not as its own write landed.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    await Promise.all(
      Array.from({ length: 5 }, () =>
        store.update(id, (job) => ({ data: { counter: Number(job.data['counter']) + 1 } }), { basis, maxAttempts: 50 }),
      ),
    );
    t.mock.timers.reset();
    assert.equal((await store.get(id))?.data['counter'], 5);
  });

  it('never moves progress backwards, and a terminal status sticks unless reopened', async () => {
    const id = JobStore.newJobId();
    await store.create({ id, type: 'demo' });
    await store.update(id, () => ({ status: 'running', progress: { step: 'c', index: 3, total: 4, percent: 75 } }));
    const back = await store.update(id, () => ({ progress: { step: 'b', index: 2, total: 4, percent: 50 } }));
    assert.equal(back.progress.index, 3);
    assert.equal(back.progress.step, 'c');
    const done = await store.update(id, () => ({ status: 'succeeded' }));
    assert.ok(done.completedAt);
    const ignored = await store.update(id, () => ({ status: 'running' }));
    assert.equal(ignored.status, 'succeeded');
    const reopened = await store.update(id, () => ({ status: 'queued', reopen: true }));
    assert.equal(reopened.status, 'queued');
    assert.equal(reopened.completedAt, undefined);
    const events = await store.events(id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'status', 'status', 'status'],
    );
    assert.ok(events.every((e, i) => i === 0 || e.at >= (events[i - 1]?.at ?? '')));
  });

  it('lists newest first by type, by status and both, and pages without repeats', async () => {
    const type = `t${uniqueName('').slice(0, 8)}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = JobStore.newJobId();
      ids.push(id);
      await store.create({ id, type });
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct creation times, for the order check
    }
    await store.update(ids[0] ?? '', () => ({ status: 'failed' }));
    const all = await store.list({ type, limit: 100 });
    assert.deepEqual(
      all.jobs.map((j) => j.id),
      [...ids].reverse(),
    );
    const failed = await store.list({ type, status: 'failed' });
    assert.deepEqual(
      failed.jobs.map((j) => j.id),
      [ids[0]],
    );
    const byStatus = await store.list({ status: 'failed', limit: 100 });
    assert.ok(byStatus.jobs.some((j) => j.id === ids[0]));
    const queued = await store.list({ status: 'queued', limit: 100 });
    assert.ok(!queued.jobs.some((j) => j.id === ids[0]), 'a job leaves the index of its old status');
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.list({ type, limit: 2, ...(token ? { continuationToken: token } : {}) });
      seen.push(...page.jobs.map((j) => j.id));
      token = page.continuationToken;
    } while (token);
    assert.deepEqual(seen, [...ids].reverse());
  });

  it('purges a listing row whose job is gone (a purge that died between its deletes), so no later purge meets it', async () => {
    const type = `p${uniqueName('').slice(0, 8)}`;
    const createdAt = '2001-02-03T04:05:06.000Z';
    const [gone, kept] = [JobStore.newJobId(), JobStore.newJobId()];
    await store.create({ id: gone, type, createdAt });
    await store.create({ id: kept, type, createdAt });
    // The job's entities deleted, its row not: what a host killed in the middle of a purge leaves.
    await table.deleteEntity(gone, 'status');
    const cutoff = new Date('2001-02-04T00:00:00.000Z');
    const mine = async () =>
      (await store.listedBefore(cutoff, 1000)).filter((entry) => entry.jobId === gone || entry.jobId === kept);
    assert.equal((await mine()).length, 2);
    let pages = 0;
    for (;;) {
      const deleted = await purgeJobsPage(store, cutoff, new Set());
      if (deleted === 0) break;
      assert.ok(++pages < 10, 'the purge keeps finding the same rows');
    }
    assert.deepEqual(await mine(), []);
    assert.equal(await store.get(kept), undefined);
  });

  it('deletes a job with its events and index rows', async () => {
    const type = `d${uniqueName('').slice(0, 8)}`;
    const id = JobStore.newJobId();
    await store.create({ id, type });
    await store.update(id, () => ({ status: 'running' }));
    const deleted = await store.delete(id);
    assert.ok(deleted >= 2, `${deleted} entities (the job with its timeline, and its index row)`);
    assert.equal(await store.get(id), undefined);
    assert.deepEqual(await store.events(id), []);
    assert.deepEqual((await store.list({ type })).jobs, []);
  });

  it('keeps a long timeline complete and in order, spilling old entries inside the job partition', async () => {
    const id = JobStore.newJobId();
    await store.create({ id, type: 'demo' });
    const message = 'x'.repeat(900);
    for (let i = 0; i < 60; i++) {
      await store.update(id, () => ({ event: { kind: 'tick', message: `${i} ${message}` } }));
    }
    const events = await store.events(id);
    assert.equal(events.length, 61);
    assert.equal(events[0]?.kind, 'created');
    assert.deepEqual(
      events.slice(1).map((e) => Number(e.message.split(' ')[0])),
      Array.from({ length: 60 }, (_, i) => i),
    );
    assert.ok(events.every((e, i) => i === 0 || e.at >= (events[i - 1]?.at ?? '')));
    assert.ok((await store.delete(id)) >= 3, 'the spilled entries go with the job');
    assert.deepEqual(await store.events(id), []);
  });

  it('writes a step’s start and end together, each at its own time', async () => {
    const id = JobStore.newJobId();
    await store.create({ id, type: 'demo' });
    const startedAt = new Date(Date.now() - 5000).toISOString();
    await store.update(id, () => ({
      events: [{ kind: 'step-started', message: 'a started', at: startedAt }],
      event: { kind: 'step-done', message: 'a done' },
    }));
    const events = await store.events(id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'step-started', 'step-done'],
    );
    assert.equal(events[1]?.at, startedAt);
  });

  it('lists newest first across days and shards, pages without repeats or gaps, and by several statuses', async () => {
    const type = `m${uniqueName('').slice(0, 8)}`;
    const day = 24 * 60 * 60 * 1000;
    const base = Date.now() - 10 * day;
    const ids: string[] = [];
    // 3 days, 7 jobs a day, spread over the index shards by their random ids.
    for (let d = 0; d < 3; d++) {
      for (let i = 0; i < 7; i++) {
        const id = JobStore.newJobId();
        ids.push(id);
        await store.create({ id, type, createdAt: new Date(base + d * day + i * 1000).toISOString() });
      }
    }
    const newestFirst = [...ids].reverse();
    for (const limit of [1, 3, 7, 100]) {
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await store.list({ type, limit, ...(token ? { continuationToken: token } : {}) });
        assert.ok(page.jobs.length <= limit);
        seen.push(...page.jobs.map((j) => j.id));
        token = page.continuationToken;
      } while (token);
      assert.deepEqual(seen, newestFirst, `limit ${limit}`);
    }
    await store.update(ids[3] ?? '', () => ({ status: 'running' }));
    await store.update(ids[10] ?? '', () => ({ status: 'failed' }));
    const running = await store.list({ type, status: 'running', limit: 100 });
    assert.deepEqual(
      running.jobs.map((j) => j.id),
      [ids[3]],
    );
    const active = await store.list({ type, statuses: ['queued', 'running'], limit: 100 });
    assert.equal(active.jobs.length, 20);
    assert.ok(!active.jobs.some((j) => j.id === ids[10]));
    const old = (await store.listedBefore(new Date(base + day), 100)).map((entry) => entry.jobId);
    assert.deepEqual(new Set(old.filter((id) => ids.includes(id))), new Set(ids.slice(0, 7)));
    await assert.rejects(store.list({ type, continuationToken: 'not-a-token' }), InvalidContinuationTokenError);
  });

  it('refuses a field too large for a table property, with a clear error', async () => {
    const id = JobStore.newJobId();
    await assert.rejects(
      store.create({ id, type: 'demo', data: { blob: 'x'.repeat(40_000) } }),
      (error: unknown) => error instanceof JobTooLargeError && /data/.test(error.message),
    );
  });
});
