import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { storageRedelivery } from '../../shared/deadletters/deadLetterRedelivery';
import { DeadLetterStore } from '../../shared/deadletters/deadLetterStore';
import type { RedeliveryPort } from '../../shared/jobs/jobPorts';
import { JobRuntime, LOST_REPLAY_AFTER_MS } from '../../shared/jobs/jobRuntime';
import { JobStore } from '../../shared/jobs/jobStore';
import { storageClients, uniqueName } from '../support/storage';

/** A job failed and dead-lettered from a blob, as the thumbnail poison handler leaves it. */
async function deadLetteredBlobJob(runtime: JobRuntime, jobs: JobStore, container: string) {
  const id = JobStore.newJobId('upl');
  await jobs.create({ id, type: 'thumbnail', data: { blobName: 'gone.png' } });
  await jobs.update(id, () => ({
    status: 'failed',
    progress: { step: 'decode', index: 1, total: 3, percent: 33, message: 'decoding' },
    error: { code: 'NOT_AN_IMAGE', message: 'the upload is not an image' },
  }));
  const letter = await runtime.recordPoison(
    {
      poisonQueue: 'webjobs-blobtrigger-poison',
      messageId: uniqueName('m'),
      insertedAt: new Date(),
      text: JSON.stringify({ ContainerName: container, BlobName: 'gone.png' }),
    },
    { kind: 'blob', container, blobName: 'gone.png', etag: '"0x1"', functionId: 'Host.Functions.thumbnail' },
    id,
    3,
  );
  return { id, letter, before: await jobs.get(id) };
}

describe('dead-letter replay that cannot be sent (Azurite)', () => {
  let jobs: JobStore;
  let deadLetters: DeadLetterStore;
  let container: string;
  const jobsTable = uniqueName('jobs').replace(/-/g, '');
  const deadLettersTable = uniqueName('dl').replace(/-/g, '');

  before(async () => {
    const clients = storageClients();
    jobs = new JobStore(clients.table(jobsTable));
    deadLetters = new DeadLetterStore(clients.table(deadLettersTable));
    await Promise.all([jobs.ensureTable(), deadLetters.ensureTable()]);
    container = uniqueName('up-');
    await clients.blobs.getContainerClient(container).create();
  });

  it('answers source-gone for a deleted blob and leaves the job as it was, with a note', async () => {
    const clients = storageClients();
    const runtime = new JobRuntime({
      statuses: jobs,
      deadLetters,
      redelivery: storageRedelivery({ queues: clients.queues, blobs: clients.blobs }),
    });
    const { id, letter, before: failed } = await deadLetteredBlobJob(runtime, jobs, container);
    const outcome = await runtime.replay(letter.id);
    assert.equal(outcome.outcome, 'failed');
    assert.ok(outcome.outcome === 'failed' && outcome.sourceGone);
    assert.equal((await deadLetters.get(letter.id))?.state, 'open');
    const job = await jobs.get(id);
    assert.equal(job?.status, 'failed', 'not left queued with nothing to run it');
    assert.deepEqual(job?.error, failed?.error);
    assert.equal(job?.completedAt, failed?.completedAt);
    assert.deepEqual(job?.progress, failed?.progress);
    const kinds = (await jobs.events(id)).map((event) => event.kind);
    assert.deepEqual(kinds.slice(-2), ['replayed', 'replay-failed']);
    const listed = await jobs.list({ type: 'thumbnail', status: 'failed' });
    assert.ok(
      listed.jobs.some((listedJob) => listedJob.id === id),
      'listed as failed again',
    );
  });

  it('notes a replay sent, and finishes one whose process died between marking it and sending it', async () => {
    const sent: string[] = [];
    const runtime = new JobRuntime({
      statuses: jobs,
      deadLetters,
      redelivery: { redeliver: (letter) => Promise.resolve(void sent.push(letter.id)) },
    });
    const { id, letter } = await deadLetteredBlobJob(runtime, jobs, container);
    // The dead process marked it replayed well over a minute ago, after the job's last write, and sent nothing.
    await deadLetters.transition(letter.id, 'replayed');
    const table = storageClients().table(deadLettersTable);
    const entity = await table.getEntity<Record<string, unknown>>('deadletter', letter.id);
    const history = JSON.parse(String(entity['history'])) as { at: string; action: string }[];
    const last = history.at(-1);
    if (last) last.at = new Date(Date.now() + 1_000 - 2 * LOST_REPLAY_AFTER_MS).toISOString();
    await table.updateEntity(
      { partitionKey: 'deadletter', rowKey: letter.id, history: JSON.stringify(history) },
      'Merge',
    );
    const longAgo = new Date(Date.now() - 3 * LOST_REPLAY_AFTER_MS).toISOString();
    await storageClients()
      .table(jobsTable)
      .updateEntity({ partitionKey: id, rowKey: 'status', updatedAt: longAgo }, 'Merge');

    // Two admins replaying it at once: one takes the dead mark over (ETag) and finishes it.
    const outcomes = await Promise.all([runtime.replay(letter.id), runtime.replay(letter.id)]);
    assert.deepEqual(outcomes.map((outcome) => outcome.outcome).sort(), ['conflict', 'replayed']);
    assert.deepEqual(sent, [letter.id]);
    assert.equal((await jobs.get(id))?.status, 'queued');
    assert.deepEqual(
      (await deadLetters.get(letter.id))?.history.map((entry) => entry.action),
      ['recorded', 'replayed', 'replayed', 'replay-sent'],
    );
    assert.equal((await runtime.replay(letter.id)).outcome, 'conflict', 'sent and noted');
    assert.deepEqual(sent, [letter.id]);
  });

  it('keeps a run another process started after the reopen (the ETag-conditional restore loses)', async () => {
    const otherProcess = new JobStore(storageClients().table(jobsTable));
    const lostAnswer: RedeliveryPort = {
      async redeliver(letter) {
        // The work arrived and another instance started it; then the sender's answer was lost.
        await otherProcess.update(letter.jobId ?? '', () => ({
          status: 'running',
          attemptsIncrement: 1,
          event: { kind: 'started', message: 'attempt 2 started' },
        }));
        throw Object.assign(new Error('the connection was reset'), { statusCode: 503 });
      },
    };
    const runtime = new JobRuntime({ statuses: jobs, deadLetters, redelivery: lostAnswer });
    const { id, letter } = await deadLetteredBlobJob(runtime, jobs, container);
    const outcome = await runtime.replay(letter.id);
    assert.deepEqual(outcome, { outcome: 'failed', sourceGone: false, reason: 'the connection was reset' });
    const job = await jobs.get(id);
    assert.equal(job?.status, 'running');
    assert.equal(job?.error, undefined);
    const last = (await jobs.events(id)).at(-1);
    assert.equal(last?.kind, 'replay-failed');
    assert.match(last?.message ?? '', /now running/);
  });

  it('logs a warning naming the job when the put-back itself cannot be written', async () => {
    // A jobs table of its own, which the failing redelivery deletes: the put-back then has nothing to write to.
    const clients = storageClients();
    const doomed = clients.table(uniqueName('jobsgone').replace(/-/g, ''));
    const ownJobs = new JobStore(doomed);
    await ownJobs.ensureTable();
    const tableGone: RedeliveryPort = {
      async redeliver() {
        await doomed.deleteTable();
        throw Object.assign(new Error('the queue is unavailable'), { statusCode: 503 });
      },
    };
    const warnings: string[] = [];
    const runtime = new JobRuntime({
      statuses: ownJobs,
      deadLetters,
      redelivery: tableGone,
      log: { warn: (line) => warnings.push(line) },
    });
    const { id, letter } = await deadLetteredBlobJob(runtime, ownJobs, container);
    const outcome = await runtime.replay(letter.id);
    assert.deepEqual(outcome, { outcome: 'failed', sourceGone: false, reason: 'the queue is unavailable' });
    assert.equal((await deadLetters.get(letter.id))?.state, 'open');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0]?.includes(`job ${id} `), warnings[0]);
    assert.ok(warnings[0]?.includes(letter.id), warnings[0]);
    assert.doesNotMatch(warnings[0] ?? '', /AccountKey|sig=|gone\.png/);
  });
});
