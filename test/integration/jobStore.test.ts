import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { JobStore } from '../../shared/jobs/jobStore';
import { JobTooLargeError } from '../../shared/jobs/jobTypes';
import { storageClients, uniqueName } from '../support/storage';

describe('job status store (Table Storage)', () => {
  let store: JobStore;

  before(async () => {
    store = new JobStore(storageClients().table(uniqueName('jobs').replace(/-/g, '')));
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

  it('deletes a job with its events and index rows', async () => {
    const type = `d${uniqueName('').slice(0, 8)}`;
    const id = JobStore.newJobId();
    await store.create({ id, type });
    await store.update(id, () => ({ status: 'running' }));
    const deleted = await store.delete(id);
    assert.ok(deleted >= 5, `${deleted} entities`);
    assert.equal(await store.get(id), undefined);
    assert.deepEqual(await store.events(id), []);
    assert.deepEqual((await store.list({ type })).jobs, []);
  });

  it('refuses a field too large for a table property, with a clear error', async () => {
    const id = JobStore.newJobId();
    await assert.rejects(
      store.create({ id, type: 'demo', data: { blob: 'x'.repeat(40_000) } }),
      (error: unknown) => error instanceof JobTooLargeError && /data/.test(error.message),
    );
  });
});
