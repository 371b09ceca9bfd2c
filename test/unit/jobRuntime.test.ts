import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { z } from 'zod';

import { defineJob } from '../../shared/jobs/jobDefinition';
import { classifyFailure, JobCancelledError, normaliseError, PermanentJobError } from '../../shared/jobs/jobErrors';
import { decodeMessage } from '../../shared/jobs/jobMessages';
import { JobRuntime, LOST_REPLAY_AFTER_MS } from '../../shared/jobs/jobRuntime';
import type { JobUpdate } from '../../shared/jobs/jobTypes';
import { MemoryDeadLetters, MemoryJobStatuses, MemoryRedelivery } from '../support/memoryJobPorts';
import { latch, waitFor } from '../support/wait';

const counterData = z.object({
  target: z.number().int(),
  done: z.number().int().default(0),
  restarts: z.number().default(0),
});
type CounterData = z.infer<typeof counterData>;
const counterResult = z.object({ counted: z.number() });
type CounterResult = z.infer<typeof counterResult>;

/** What the test's job does on its next attempt. */
let behaviour: 'succeed' | 'permanent' | 'transient' | 'string-throw' | 'bad-result' | 'gone' = 'succeed';
const permanentFailures: string[] = [];

const counterJob = defineJob<CounterData, CounterResult>({
  type: 'counter',
  data: counterData,
  result: counterResult,
  async run(job, context) {
    // The data arrives typed and validated: `done` has its default.
    for (let i = job.data.done; i < job.data.target; i++) {
      await context.checkpoint({
        data: { done: i + 1 },
        progress: { step: 'count', index: i + 1, total: job.data.target },
      });
    }
    switch (behaviour) {
      case 'succeed':
        return { counted: job.data.target };
      case 'permanent':
        throw new PermanentJobError('BAD_INPUT', 'the input cannot be counted');
      case 'transient':
        throw Object.assign(new Error('storage said 503\nwith a stack of details'), { code: 'STORAGE_BUSY' });
      case 'string-throw':
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw 'a string';
      case 'bad-result':
        return { counted: 'many' } as unknown as CounterResult;
      case 'gone':
        throw new JobCancelledError('INPUT_GONE', 'the input was deleted before it was read');
      default: {
        const never: never = behaviour;
        throw new Error(String(never));
      }
    }
  },
  onPermanentFailure(job, error) {
    permanentFailures.push(`${job.id}:${error.code}`);
    return Promise.resolve();
  },
  onReplay: (job) => ({ done: 0, restarts: job.data.restarts + 1 }),
});

const cancelRequests: string[] = [];
const workflowJob = defineJob<{ step: string; cancelRequested?: boolean }, Record<string, never>>({
  type: 'workflow',
  data: z.object({ step: z.string(), cancelRequested: z.boolean().optional() }),
  cancel: {
    refusal: (job) => (job.data.step === 'shipped' ? 'it has shipped' : undefined),
    request: (job) => (job.data.cancelRequested ? undefined : { cancelRequested: true }),
    afterRequest(job) {
      cancelRequests.push(job.id);
      return Promise.resolve();
    },
  },
});
const simpleJob = defineJob<{ n: number }, Record<string, never>>({
  type: 'simple',
  data: z.object({ n: z.number() }),
  cancel: {},
});

describe('job runtime rules (in-memory ports)', () => {
  let statuses: MemoryJobStatuses;
  let deadLetters: MemoryDeadLetters;
  let redelivery: MemoryRedelivery;
  let runtime: JobRuntime;

  beforeEach(() => {
    statuses = new MemoryJobStatuses();
    deadLetters = new MemoryDeadLetters();
    redelivery = new MemoryRedelivery();
    runtime = new JobRuntime({ statuses, deadLetters, redelivery, definitions: [counterJob, workflowJob] });
    behaviour = 'succeed';
    permanentFailures.length = 0;
    cancelRequests.length = 0;
  });

  it('moves a job queued → running → succeeded, with its typed result and a timeline', async () => {
    await runtime.create(counterJob, { id: 'c1', data: { target: 3, done: 0, restarts: 0 } });
    assert.equal((await runtime.read(counterJob, 'c1'))?.status, 'queued');
    const outcome = await runtime.execute(counterJob, 'c1');
    assert.equal(outcome.outcome, 'succeeded');
    const job = await runtime.read(counterJob, 'c1');
    assert.equal(job?.status, 'succeeded');
    assert.deepEqual(job?.result, { counted: 3 });
    assert.equal(job?.attempts, 1);
    assert.equal(job?.progress.percent, 100);
    assert.ok(job?.completedAt);
    assert.deepEqual(
      statuses.events('c1').map((e) => e.kind),
      ['created', 'started', 'succeeded'],
    );
  });

  it('writes a job made by the attempt that runs it once, when it ends: one status write, not two', async () => {
    const data = { target: 0, done: 0, restarts: 0 };
    const first = await runtime.execute(counterJob, 'c20', {
      create: { data, event: 'made by its attempt' },
      start: { progress: { step: 'start', index: 0, total: 1, percent: 0 } },
    });
    assert.equal(first.outcome, 'succeeded');
    assert.equal(statuses.writes, 1);
    const job = await runtime.read(counterJob, 'c20');
    assert.equal(job?.status, 'succeeded');
    assert.equal(job?.attempts, 1);
    assert.deepEqual(
      statuses.events('c20').map((e) => [e.kind, e.message]),
      [
        ['created', 'made by its attempt'],
        ['started', 'attempt 1 started'],
        ['succeeded', 'done'],
      ],
    );
    // A redelivery finds it: not created again, not run again.
    const again = await runtime.execute(counterJob, 'c20', { create: { data } });
    assert.equal(again.outcome, 'already-finished');
    assert.equal((await runtime.read(counterJob, 'c20'))?.attempts, 1);
  });

  it('validates the data of a job it creates before writing anything', async () => {
    await assert.rejects(
      runtime.execute(counterJob, 'c21', { create: { data: { target: 'x' } as unknown as CounterData } }),
      /target/,
    );
    assert.equal(await runtime.readAny('c21'), undefined);
  });

  it('keeps a terminal status: a finished job is not run again, and a late write cannot revive it', async () => {
    await runtime.create(counterJob, { id: 'c2', data: { target: 1, done: 0, restarts: 0 } });
    await runtime.execute(counterJob, 'c2');
    const again = await runtime.execute(counterJob, 'c2');
    assert.equal(again.outcome, 'already-finished');
    assert.equal((await runtime.read(counterJob, 'c2'))?.attempts, 1);
    const late = await runtime.update(counterJob, 'c2', () => ({ status: 'running' }));
    assert.equal(late.status, 'succeeded');
    const failed = await runtime.update(counterJob, 'c2', () => ({ status: 'failed' }));
    assert.equal(failed.status, 'succeeded');
  });

  it('never moves progress back', async () => {
    await runtime.create(counterJob, { id: 'c3', data: { target: 1, done: 0, restarts: 0 } });
    await runtime.update(counterJob, 'c3', () => ({ progress: { step: 'b', index: 3, total: 4, percent: 75 } }));
    const back = await runtime.update(counterJob, 'c3', () => ({
      progress: { step: 'a', index: 1, total: 4, percent: 25 },
    }));
    assert.equal(back.progress.index, 3);
    assert.equal(back.progress.percent, 75);
    assert.equal(back.progress.step, 'b');
    const forward = await runtime.update(counterJob, 'c3', () => ({ progress: { step: 'c', index: 4, percent: 100 } }));
    assert.equal(forward.progress.step, 'c');
    assert.equal(forward.progress.index, 4);
  });

  it('fails for good on a PermanentJobError: status failed with its code, no rethrow, the failure hook runs', async () => {
    await runtime.create(counterJob, { id: 'c4', data: { target: 1, done: 0, restarts: 0 } });
    behaviour = 'permanent';
    const outcome = await runtime.execute(counterJob, 'c4');
    assert.equal(outcome.outcome, 'failed');
    const job = await runtime.read(counterJob, 'c4');
    assert.equal(job?.status, 'failed');
    assert.deepEqual(job?.error, { code: 'BAD_INPUT', message: 'the input cannot be counted' });
    assert.deepEqual(permanentFailures, ['c4:BAD_INPUT']);
    assert.ok(statuses.events('c4').some((e) => e.kind === 'failed' && e.message.startsWith('BAD_INPUT')));
  });

  it('ends a job cancelled, not failed, when its input went away: no failure hook, no retry', async () => {
    await runtime.create(counterJob, { id: 'c12', data: { target: 1, done: 0, restarts: 0 } });
    behaviour = 'gone';
    const outcome = await runtime.execute(counterJob, 'c12');
    assert.equal(outcome.outcome, 'cancelled');
    const job = await runtime.read(counterJob, 'c12');
    assert.equal(job?.status, 'cancelled');
    assert.equal(job?.error?.code, 'INPUT_GONE');
    assert.deepEqual(permanentFailures, []);
    assert.equal(statuses.events('c12').at(-1)?.kind, 'cancelled');
  });

  it('records a transient failure and rethrows it for the retry; the next attempt resumes and clears the error', async () => {
    await runtime.create(counterJob, { id: 'c5', data: { target: 2, done: 0, restarts: 0 } });
    behaviour = 'transient';
    await assert.rejects(runtime.execute(counterJob, 'c5'), /storage said 503/);
    const between = await runtime.read(counterJob, 'c5');
    assert.equal(between?.status, 'running');
    assert.deepEqual(between?.error, { code: 'STORAGE_BUSY', message: 'storage said 503' });
    assert.equal(between?.data.done, 2, 'the checkpoint survives the failed attempt');
    assert.deepEqual(permanentFailures, []);
    behaviour = 'succeed';
    const outcome = await runtime.execute(counterJob, 'c5');
    assert.equal(outcome.outcome, 'succeeded');
    const job = await runtime.read(counterJob, 'c5');
    assert.equal(job?.attempts, 2);
    assert.equal(job?.error, undefined);
    assert.ok(statuses.events('c5').some((e) => e.kind === 'attempt-failed'));
  });

  it('normalises a non-Error throwable once, keeping it as the cause', async () => {
    const error = normaliseError({ odd: true });
    assert.ok(error instanceof Error);
    assert.deepEqual(error.cause, { odd: true });
    assert.equal(classifyFailure('boom').permanent, false);
    assert.equal(classifyFailure('boom').error.code, 'TRANSIENT');
    assert.equal(classifyFailure(new PermanentJobError('X_Y', 'first\nsecond')).error.message, 'first');
    await runtime.create(counterJob, { id: 'c6', data: { target: 0, done: 0, restarts: 0 } });
    behaviour = 'string-throw';
    await assert.rejects(runtime.execute(counterJob, 'c6'), (thrown: unknown) => {
      assert.ok(thrown instanceof Error);
      assert.equal(thrown.cause, 'a string');
      return true;
    });
    assert.equal((await runtime.read(counterJob, 'c6'))?.error?.code, 'TRANSIENT');
  });

  it('fails a job whose stored data or returned result does not match its schema, without retrying', async () => {
    await statuses.create({ id: 'c7', type: 'counter', data: { target: 'ten' } });
    await assert.rejects(runtime.read(counterJob, 'c7'), (error: unknown) => {
      assert.ok(error instanceof PermanentJobError);
      assert.equal(error.code, 'MALFORMED_JOB_DATA');
      return true;
    });
    const outcome = await runtime.execute(counterJob, 'c7');
    assert.equal(outcome.outcome, 'failed');
    assert.equal((await statuses.get('c7'))?.error?.code, 'MALFORMED_JOB_DATA');

    await runtime.create(counterJob, { id: 'c8', data: { target: 0, done: 0, restarts: 0 } });
    behaviour = 'bad-result';
    assert.equal((await runtime.execute(counterJob, 'c8')).outcome, 'failed');
    assert.equal((await statuses.get('c8'))?.error?.code, 'RESULT_INVALID');
  });

  it('reads a job of another type as absent, and an unknown id too', async () => {
    await runtime.create(simpleJob, { id: 's1', data: { n: 1 } });
    assert.equal(await runtime.read(counterJob, 's1'), undefined);
    assert.equal(await runtime.read(counterJob, 'nope'), undefined);
    assert.equal((await runtime.execute(counterJob, 'nope')).outcome, 'unknown-job');
  });

  it('dead-letters a poisoned message once with its body, failing its job with the last recorded error', async () => {
    await runtime.create(counterJob, { id: 'c9', data: { target: 1, done: 0, restarts: 0 } });
    behaviour = 'transient';
    await assert.rejects(runtime.execute(counterJob, 'c9'));
    const delivery = { poisonQueue: 'work-poison', messageId: 'm1', insertedAt: new Date(), text: '{"jobId":"c9"}' };
    const first = await runtime.recordPoison(delivery, { kind: 'queue', queue: 'work' }, 'c9', 5);
    const second = await runtime.recordPoison(delivery, { kind: 'queue', queue: 'work' }, 'c9', 5);
    assert.equal(first.id, second.id);
    assert.equal(deadLetters.letters.size, 1);
    assert.equal(first.body, '{"jobId":"c9"}');
    assert.equal(first.error.code, 'STORAGE_BUSY');
    const job = await runtime.read(counterJob, 'c9');
    assert.equal(job?.status, 'failed');
    assert.equal(statuses.events('c9').filter((e) => e.kind === 'dead-lettered').length, 1);
  });

  it('lists a poisoned job failed when the poison message comes again after its host died before the row', async () => {
    await runtime.create(counterJob, { id: 'c20', data: { target: 1, done: 0, restarts: 0 } });
    const delivery = { poisonQueue: 'work-poison', messageId: 'm20', insertedAt: new Date(), text: '{"jobId":"c20"}' };
    await runtime.recordPoison(delivery, { kind: 'queue', queue: 'work' }, 'c20', 5);
    assert.equal(statuses.listing.get('c20'), 'failed');
    statuses.listing.set('c20', 'active'); // the host died after the job's write, before its row's
    // It never completed the poison message, so it comes again: the job is failed already, and left as it is.
    await runtime.recordPoison(delivery, { kind: 'queue', queue: 'work' }, 'c20', 5);
    assert.equal(statuses.listing.get('c20'), 'failed');
  });

  it('replays a dead letter: reopens the job queued with its type’s data change and redelivers, once', async () => {
    await runtime.create(counterJob, { id: 'c10', data: { target: 2, done: 0, restarts: 0 } });
    behaviour = 'permanent';
    await runtime.execute(counterJob, 'c10');
    const letter = await runtime.recordPoison(
      { poisonQueue: 'work-poison', messageId: 'm2', insertedAt: new Date(), text: 'body' },
      { kind: 'queue', queue: 'work' },
      'c10',
      5,
    );
    const replayed = await runtime.replay(letter.id);
    assert.equal(replayed.outcome, 'replayed');
    assert.equal(redelivery.redelivered.length, 1);
    assert.equal(redelivery.redelivered[0]?.body, 'body');
    const job = await runtime.read(counterJob, 'c10');
    assert.equal(job?.status, 'queued');
    assert.equal(job?.error, undefined);
    assert.equal(job?.completedAt, undefined);
    assert.equal(job?.progress.index, 0, 'a replay resets progress');
    assert.deepEqual([job?.data.done, job?.data.restarts], [0, 1]);
    assert.equal((await runtime.replay(letter.id)).outcome, 'conflict');
    assert.equal(redelivery.redelivered.length, 1);
    behaviour = 'succeed';
    assert.equal((await runtime.execute(counterJob, 'c10')).outcome, 'succeeded');
    assert.equal((await runtime.replay('dl_missing')).outcome, 'not-found');
  });

  describe('a replay whose process died after marking it replayed and before sending it', () => {
    /** A permanently failed counter job `id` and its dead letter. */
    async function deadLettered(id: string) {
      await runtime.create(counterJob, { id, data: { target: 2, done: 0, restarts: 0 } });
      behaviour = 'permanent';
      await runtime.execute(counterJob, id);
      behaviour = 'succeed';
      const poison = { poisonQueue: 'work-poison', messageId: `m-${id}`, insertedAt: new Date(), text: 'body' };
      const letter = await runtime.recordPoison(poison, { kind: 'queue', queue: 'work' }, id, 5);
      // Failed well before the replay that is about to be marked (the marks below are dated in the past).
      const job = statuses.jobs.get(id);
      if (job) job.updatedAt = new Date(Date.now() - 10 * LOST_REPLAY_AFTER_MS).toISOString();
      return letter;
    }

    /** What the dead process left: the dead letter marked replayed `agoMs` ago, and nothing noted after. */
    async function markedAndDied(letterId: string, agoMs: number) {
      await deadLetters.transition(letterId, 'replayed');
      const letter = deadLetters.letters.get(letterId);
      const last = letter?.history.at(-1);
      if (last) last.at = new Date(Date.now() - agoMs).toISOString();
    }

    it('reopens and sends it, once, when the next replay comes after the mark has gone stale', async () => {
      const letter = await deadLettered('c30');
      await markedAndDied(letter.id, LOST_REPLAY_AFTER_MS + 1_000);
      // Two admins replaying it at once: one finishes it.
      const outcomes = await Promise.all([runtime.replay(letter.id), runtime.replay(letter.id)]);
      assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ['conflict', 'replayed']);
      const job = await runtime.read(counterJob, 'c30');
      assert.equal(job?.status, 'queued');
      assert.equal(job?.data.restarts, 1, "the type's replay change, applied once");
      assert.equal(redelivery.redelivered.length, 1);
      assert.equal(deadLetters.letters.get(letter.id)?.history.at(-1)?.action, 'replay-sent');
      // Sent and noted: a replay again is a conflict, as for any replayed dead letter.
      assert.equal((await runtime.replay(letter.id)).outcome, 'conflict');
      assert.equal(redelivery.redelivered.length, 1);
    });

    it('only sends it when its reopen had landed, without applying the replay change again', async () => {
      const letter = await deadLettered('c31');
      await markedAndDied(letter.id, LOST_REPLAY_AFTER_MS + 1_000);
      // The reopen landed (after the mark) before the process died.
      await statuses.update('c31', () => ({
        status: 'queued',
        reopen: true,
        error: null,
        data: { restarts: 1 },
        progress: { index: 0, percent: 0, step: 'queued', message: 'replayed' },
      }));
      assert.equal((await runtime.replay(letter.id)).outcome, 'replayed');
      assert.equal((await runtime.read(counterJob, 'c31'))?.data.restarts, 1);
      assert.equal(redelivery.redelivered.length, 1);
    });

    it('leaves a replay still under way alone, and one whose work arrived after all (only its note was lost)', async () => {
      const fresh = await deadLettered('c32');
      await markedAndDied(fresh.id, 1_000);
      assert.equal((await runtime.replay(fresh.id)).outcome, 'conflict');
      const ran = await deadLettered('c33');
      await markedAndDied(ran.id, LOST_REPLAY_AFTER_MS + 1_000);
      await statuses.update('c33', () => ({ status: 'running', reopen: true, error: null }));
      assert.equal((await runtime.replay(ran.id)).outcome, 'conflict');
      assert.equal(redelivery.redelivered.length, 0);
    });
  });

  it('reopens the dead letter when its source cannot take the replay', async () => {
    const letter = await runtime.recordMalformed(
      { messageId: 'm3', insertedAt: new Date(), queue: 'work', text: 'not json', dequeueCount: 1 },
      'not a work message',
    );
    assert.equal(letter.error.code, 'MALFORMED_MESSAGE');
    redelivery.failWith = Object.assign(new Error('queue gone'), { statusCode: 404 });
    const outcome = await runtime.replay(letter.id);
    assert.deepEqual(outcome, { outcome: 'failed', sourceGone: true, reason: 'queue gone' });
    assert.equal(deadLetters.letters.get(letter.id)?.state, 'open');
  });

  it('puts the job back as it was, with a note, when a replay cannot be sent', async () => {
    await runtime.create(counterJob, { id: 'c12', data: { target: 2, done: 0, restarts: 0 } });
    behaviour = 'permanent';
    await runtime.execute(counterJob, 'c12');
    const letter = await runtime.recordPoison(
      { poisonQueue: 'work-poison', messageId: 'm4', insertedAt: new Date(), text: 'body' },
      { kind: 'queue', queue: 'work' },
      'c12',
      5,
    );
    const before = await runtime.read(counterJob, 'c12');
    assert.equal(before?.status, 'failed');
    for (const [error, sourceGone] of [
      [Object.assign(new Error('queue gone'), { statusCode: 404 }), true],
      [Object.assign(new Error('storage unavailable'), { statusCode: 503 }), false],
    ] as const) {
      redelivery.failWith = error;
      const outcome = await runtime.replay(letter.id);
      assert.deepEqual(outcome, { outcome: 'failed', sourceGone, reason: error.message });
      assert.equal(deadLetters.letters.get(letter.id)?.state, 'open');
      const job = await runtime.read(counterJob, 'c12');
      assert.equal(job?.status, 'failed', 'not left queued with nothing to run it');
      assert.deepEqual(job?.error, before?.error);
      assert.equal(job?.completedAt, before?.completedAt);
      assert.deepEqual(
        [job?.progress.index, job?.progress.percent],
        [before?.progress.index, before?.progress.percent],
      );
      assert.deepEqual(job?.data, before?.data, 'the onReplay data change is undone');
      const last = statuses.events('c12').at(-1);
      assert.equal(last?.kind, 'replay-failed');
      assert.equal(last?.message, `replay of dead letter ${letter.id} failed: ${error.message}`);
    }
    redelivery.failWith = undefined;
    assert.equal((await runtime.replay(letter.id)).outcome, 'replayed', 'the dead letter can be replayed again');
    assert.equal((await runtime.read(counterJob, 'c12'))?.status, 'queued');
  });

  it('logs a warning naming the job and the error when the put-back after a failed replay fails too', async () => {
    const warnings: string[] = [];
    const logged = new JobRuntime({
      statuses,
      deadLetters,
      redelivery,
      definitions: [counterJob],
      log: { warn: (line) => warnings.push(line) },
    });
    await logged.create(counterJob, { id: 'c14', data: { target: 1, done: 0, restarts: 0 } });
    behaviour = 'permanent';
    await logged.execute(counterJob, 'c14');
    const letter = await logged.recordPoison(
      { poisonQueue: 'work-poison', messageId: 'm6', insertedAt: new Date(), text: 'body' },
      { kind: 'queue', queue: 'work' },
      'c14',
      5,
    );
    redelivery.failWith = Object.assign(new Error('queue unavailable'), { statusCode: 503 });
    // The reopen succeeds, the redelivery fails, and so does the write that would put the job back.
    redelivery.beforeFailing = () => {
      statuses.failNextWrites = 1;
      return Promise.resolve();
    };
    const outcome = await logged.replay(letter.id);
    assert.deepEqual(outcome, { outcome: 'failed', sourceGone: false, reason: 'queue unavailable' });
    assert.equal((await logged.read(counterJob, 'c14'))?.status, 'queued', 'the put-back was not written');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /c14/);
    assert.match(warnings[0] ?? '', new RegExp(letter.id));
    assert.match(warnings[0] ?? '', /storage unavailable/);
    // Nothing is logged when the put-back works.
    statuses.failNextWrites = 0;
    redelivery.beforeFailing = undefined;
    assert.equal((await logged.replay(letter.id)).outcome, 'failed');
    assert.equal(statuses.events('c14').at(-1)?.kind, 'replay-failed');
    assert.equal(warnings.length, 1);
  });

  it('leaves a job alone when it changed after a replay that reported failure (its work arrived after all)', async () => {
    await runtime.create(counterJob, { id: 'c13', data: { target: 1, done: 0, restarts: 0 } });
    behaviour = 'permanent';
    await runtime.execute(counterJob, 'c13');
    const letter = await runtime.recordPoison(
      { poisonQueue: 'work-poison', messageId: 'm5', insertedAt: new Date(), text: 'body' },
      { kind: 'queue', queue: 'work' },
      'c13',
      5,
    );
    redelivery.failWith = Object.assign(new Error('the answer was lost'), { statusCode: 503 });
    redelivery.beforeFailing = async () => {
      // The message did arrive, and a worker started the job before the send's error surfaced.
      await statuses.update('c13', () => ({
        status: 'running',
        attemptsIncrement: 1,
        event: { kind: 'started', message: 'attempt 2 started' },
      }));
    };
    const outcome = await runtime.replay(letter.id);
    assert.equal(outcome.outcome, 'failed');
    const job = await runtime.read(counterJob, 'c13');
    assert.equal(job?.status, 'running', 'the newer run is not overwritten');
    assert.equal(job?.attempts, 2);
    assert.equal(job?.error, undefined);
    assert.deepEqual(job?.data, { target: 1, done: 0, restarts: 1 });
    const last = statuses.events('c13').at(-1);
    assert.equal(last?.kind, 'replay-failed');
    assert.match(last?.message ?? '', /changed since \(now running\), so it was left as it is$/);
  });

  it('cancels by the type’s policy: refused without one, when terminal or when the policy refuses', async () => {
    await runtime.create(counterJob, { id: 'c11', data: { target: 1, done: 0, restarts: 0 } });
    assert.deepEqual(await runtime.cancel(counterJob, 'c11'), {
      outcome: 'refused',
      reason: 'counter jobs cannot be cancelled',
    });
    assert.deepEqual(await runtime.cancel(workflowJob, 'missing'), { outcome: 'not-found' });

    await runtime.create(workflowJob, { id: 'w1', data: { step: 'paying' } });
    const requested = await runtime.cancel(workflowJob, 'w1');
    assert.equal(requested.outcome, 'requested');
    assert.equal((await runtime.read(workflowJob, 'w1'))?.data.cancelRequested, true);
    const writes = statuses.writes;
    assert.equal((await runtime.cancel(workflowJob, 'w1')).outcome, 'requested');
    assert.equal(statuses.writes, writes, 'a repeated request writes nothing');
    assert.deepEqual(cancelRequests, ['w1', 'w1']);

    await runtime.create(workflowJob, { id: 'w2', data: { step: 'shipped' } });
    assert.deepEqual(await runtime.cancel(workflowJob, 'w2'), { outcome: 'refused', reason: 'it has shipped' });

    await runtime.create(simpleJob, { id: 's2', data: { n: 1 } });
    const cancelled = await runtime.cancel(simpleJob, 's2');
    assert.equal(cancelled.outcome, 'cancelled');
    assert.equal((await runtime.read(simpleJob, 's2'))?.error?.code, 'CANCELLED');
    const refused = await runtime.cancel(simpleJob, 's2');
    assert.deepEqual(refused, { outcome: 'refused', reason: 'the simple is already cancelled' });
  });

  it('decodes queue messages at the boundary: a mismatch is permanent and names the field', () => {
    const schema = z.object({ jobId: z.string() });
    assert.deepEqual(decodeMessage(schema, { jobId: 'a' }, 'a work message'), { jobId: 'a' });
    assert.throws(
      () => decodeMessage(schema, { jobId: 1 }, 'a work message'),
      (error: unknown) =>
        error instanceof PermanentJobError && error.code === 'MALFORMED_MESSAGE' && /jobId/.test(error.message),
    );
  });
});

describe('a job made by the attempt that runs it: written by its first write (in-memory ports)', () => {
  /** Short, so a held attempt outlives it in a test; the runtime's own is seconds. */
  const graceMs = 20;
  let statuses: MemoryJobStatuses;
  let runtime: JobRuntime;
  let attempt: (job: { data: { n: number } }) => Promise<{ n: number }>;
  /** Makes the next attempts wait until the returned gate opens, then do `then`: an attempt held while it runs. */
  function holdAttempt(then: (job: { data: { n: number } }) => Promise<{ n: number }>): ReturnType<typeof latch> {
    const gate = latch();
    attempt = async (...args) => {
      await gate.opened;
      return then(...args);
    };
    return gate;
  }
  const heldJob = defineJob<{ n: number }, { n: number }>({
    type: 'held',
    data: z.object({ n: z.number() }),
    run: (job) => attempt(job),
  });
  /** Not read first: the first write meets whatever another delivery wrote. */
  const made = { create: { data: { n: 1 }, rerunnable: true } };
  const transient = () => Promise.reject(Object.assign(new Error('storage busy'), { code: 'STORAGE_BUSY' }));
  const writes = () => statuses.indexWrites.map((write) => [write.id, write.by, write.status]);
  /** Ends job `id` with `end` once its attempt has marked it running: someone else's end, landing while it runs. */
  async function endWhileRunning(id: string, end: JobUpdate): Promise<void> {
    await waitFor('the attempt running', () => statuses.jobs.get(id)?.status === 'running', 5_000, 5);
    await statuses.update(id, () => end);
  }
  const cancelledByOwner: JobUpdate = { status: 'cancelled', error: { code: 'CANCELLED', message: 'by its owner' } };

  beforeEach(() => {
    statuses = new MemoryJobStatuses();
    runtime = new JobRuntime({ statuses, deadLetters: new MemoryDeadLetters(), unwrittenGraceMs: graceMs });
    attempt = (job) => Promise.resolve({ n: job.data.n });
  });

  it('writes a job that ends within the grace once, with its end: one status write and its listing row', async () => {
    assert.equal((await runtime.execute(heldJob, 'h1', made)).outcome, 'succeeded');
    assert.equal(statuses.writes, 1);
    assert.deepEqual(writes(), [['h1', 'insert', 'succeeded']]);
    assert.deepEqual(
      statuses.events('h1').map((event) => event.kind),
      ['created', 'started', 'succeeded'],
    );
  });

  it('writes a job still running after the grace as running and listed, then its end over it', async () => {
    const gate = holdAttempt((job) => Promise.resolve({ n: job.data.n }));
    const running = runtime.execute(heldJob, 'h2', made);
    await waitFor('the running job listed', () => statuses.listing.get('h2') === 'active', 5_000, 5);
    assert.equal(statuses.jobs.get('h2')?.status, 'running');
    gate.open();
    assert.equal((await running).outcome, 'succeeded');
    assert.equal(statuses.jobs.get('h2')?.attempts, 1);
    assert.deepEqual(writes(), [
      ['h2', 'insert', 'active'],
      ['h2', 'update', 'succeeded'],
    ]);
  });

  it('writes the end only after a slow grace write has landed', async () => {
    const reached = latch();
    const slow = latch();
    let started = false;
    statuses.beforeInsert = async () => {
      started = true;
      reached.open();
      await slow.opened;
    };
    attempt = async (job) => {
      await reached.opened;
      // Released once every pending promise has run: an end written without waiting for it would have landed by then.
      setImmediate(slow.open);
      return { n: job.data.n };
    };
    const running = runtime.execute(heldJob, 'h3', made);
    // Polled, not awaited on the latch: the grace timer is unref'd, and only a pending timer keeps a test alive.
    await waitFor('the grace write under way', () => started, 5_000, 5);
    assert.equal((await running).outcome, 'succeeded');
    assert.deepEqual(writes(), [
      ['h3', 'insert', 'active'],
      ['h3', 'update', 'succeeded'],
    ]);
    assert.equal(statuses.jobs.get('h3')?.attempts, 1);
  });

  it('writes nothing more when the grace is up while the first write is under way', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const reached = latch();
    const slow = latch();
    statuses.beforeInsert = async () => {
      reached.open();
      await slow.opened;
    };
    const running = runtime.execute(heldJob, 'h15', made);
    // The end's insert is under way (held) when the grace is up.
    await reached.opened;
    t.mock.timers.tick(graceMs);
    slow.open();
    assert.equal((await running).outcome, 'succeeded');
    assert.equal(statuses.writes, 1, 'the grace wrote the ended job again');
    assert.deepEqual(writes(), [['h15', 'insert', 'succeeded']]);
  });

  it('leaves no grace timer behind when the attempt ends, however it ends', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    await runtime.execute(heldJob, 'h4', made);
    attempt = transient;
    await assert.rejects(runtime.execute(heldJob, 'h5', made), /storage busy/);
    attempt = () => Promise.reject(new PermanentJobError('BAD_INPUT', 'bad input'));
    await runtime.execute(heldJob, 'h6', made);
    const before = writes();
    t.mock.timers.tick(graceMs * 10);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(writes(), before);
  });

  it('writes a job whose attempt failed, listed for its retry, which counts as attempt 2', async () => {
    attempt = transient;
    await assert.rejects(runtime.execute(heldJob, 'h7', made), /storage busy/);
    assert.equal(statuses.listing.get('h7'), 'active');
    assert.equal(statuses.jobs.get('h7')?.error?.code, 'STORAGE_BUSY');
    attempt = (job) => Promise.resolve({ n: job.data.n });
    assert.equal((await runtime.execute(heldJob, 'h7', made)).outcome, 'succeeded');
    assert.equal(statuses.jobs.get('h7')?.attempts, 2);
    assert.deepEqual(writes(), [
      ['h7', 'insert', 'active'],
      ['h7', 'update', 'succeeded'],
    ]);
  });

  it('counts itself the next attempt of a job another delivery is running, and leaves one it ended', async () => {
    await statuses.create({ id: 'h8', type: 'held', status: 'running', attempts: 1, data: { n: 1 } });
    assert.equal((await runtime.execute(heldJob, 'h8', made)).outcome, 'succeeded');
    assert.equal(statuses.jobs.get('h8')?.attempts, 2);
    assert.equal(statuses.jobs.get('h8')?.status, 'succeeded');

    await statuses.create({ id: 'h9', type: 'held', status: 'running', attempts: 1, data: { n: 1 } });
    await statuses.update('h9', () => ({ status: 'failed', error: { code: 'BAD_INPUT', message: 'bad input' } }));
    const ended = structuredClone(statuses.jobs.get('h9'));
    const executed = await runtime.execute(heldJob, 'h9', made);
    assert.equal(executed.outcome, 'already-finished');
    assert.deepEqual(statuses.jobs.get('h9'), ended);
  });

  it('keeps the draft for the next write when its first write fails: the end still inserts the job', async () => {
    const gate = holdAttempt((job) => Promise.resolve({ n: job.data.n }));
    statuses.failNextWrites = 1;
    const running = runtime.execute(heldJob, 'h13', made);
    await waitFor('the grace write tried', () => statuses.failNextWrites === 0, 5_000, 5);
    gate.open();
    assert.equal((await running).outcome, 'succeeded');
    assert.equal(statuses.jobs.get('h13')?.attempts, 1);
    assert.deepEqual(writes(), [['h13', 'insert', 'succeeded']]);
  });

  it('writes a job that fails or is withdrawn once, with its end', async () => {
    attempt = () => Promise.reject(new PermanentJobError('BAD_INPUT', 'bad input'));
    assert.equal((await runtime.execute(heldJob, 'h10', made)).outcome, 'failed');
    attempt = () => Promise.reject(new JobCancelledError('INPUT_GONE', 'the input went away'));
    assert.equal((await runtime.execute(heldJob, 'h11', made)).outcome, 'cancelled');
    assert.deepEqual(writes(), [
      ['h10', 'insert', 'failed'],
      ['h11', 'insert', 'cancelled'],
    ]);
  });

  it('reads a job that is not rerunnable first: a redelivery of one that ended does not run it again', async () => {
    let runs = 0;
    attempt = (job) => {
      runs++;
      return Promise.resolve({ n: job.data.n });
    };
    const once = { create: { data: { n: 1 } } };
    assert.equal((await runtime.execute(heldJob, 'h14', once)).outcome, 'succeeded');
    assert.equal((await runtime.execute(heldJob, 'h14', once)).outcome, 'already-finished');
    assert.equal(runs, 1);
    // A rerunnable one runs again, and its first write finds the end: nothing is written.
    const writesBefore = statuses.writes;
    assert.equal((await runtime.execute(heldJob, 'h14', made)).outcome, 'already-finished');
    assert.equal(runs, 2);
    assert.equal(statuses.writes, writesBefore);
  });

  it('takes over a record another delivery is running as it would have started its draft: its next attempt', async () => {
    await statuses.create({ id: 'h18', type: 'held', status: 'running', attempts: 1, data: { n: 1 } });
    const seen: number[] = [];
    const job = defineJob<{ n: number }, { n: number }>({
      type: 'held',
      data: z.object({ n: z.number() }),
      run: async (_job, context) => {
        seen.push(context.attempt);
        await context.progress({ step: 'render', index: 1, total: 3 });
        seen.push(context.attempt);
        return { n: 2 };
      },
    });
    const start = { data: { n: 7 }, progress: { step: 'decode', index: 0, total: 3 } };
    assert.equal((await runtime.execute(job, 'h18', { ...made, start })).outcome, 'succeeded');
    assert.deepEqual(seen, [1, 2], 'a draft until its first write found the record: then attempt 2');
    const stored = statuses.jobs.get('h18');
    assert.equal(stored?.attempts, 2);
    assert.equal(stored?.data['n'], 7, "the start's data, as the draft had it");
  });

  it('writes nothing of an attempt on top of an end someone else wrote meanwhile (a cancel, a duplicate)', async () => {
    for (const [id, end] of [
      ['h19', { status: 'cancelled' as const, error: { code: 'CANCELLED', message: 'cancelled by its owner' } }],
      ['h20', { status: 'succeeded' as const, result: { n: 1 }, event: { kind: 'succeeded', message: 'done' } }],
    ] as const) {
      await runtime.create(heldJob, { id, data: { n: 1 } });
      const gate = holdAttempt(() => Promise.resolve({ n: 2 }));
      const running = runtime.execute(heldJob, id);
      await endWhileRunning(id, end);
      const ended = structuredClone(statuses.jobs.get(id));
      gate.open();
      assert.equal((await running).outcome, 'already-finished');
      assert.deepEqual(statuses.jobs.get(id), ended, `${end.status}: as it was ended, no result or end on top`);
      assert.equal(statuses.events(id).filter((event) => event.kind === 'succeeded').length, id === 'h20' ? 1 : 0);
    }
  });

  it('records how an attempt stopped for a cancellation that landed while it ran, on that cancellation', async () => {
    await runtime.create(heldJob, { id: 'h21', data: { n: 1 } });
    const gate = holdAttempt(() =>
      Promise.reject(new JobCancelledError('HELD_CANCELLED', 'cancelled after 3 pages; nothing committed')),
    );
    const running = runtime.execute(heldJob, 'h21');
    await endWhileRunning('h21', cancelledByOwner);
    gate.open();
    const stopped = await running;
    assert.equal(stopped.outcome, 'cancelled');
    assert.equal(statuses.jobs.get('h21')?.status, 'cancelled');
    assert.equal(statuses.jobs.get('h21')?.error?.code, 'HELD_CANCELLED');
  });

  it('neither starts nor runs an attempt on a job ended since its caller read it (a duplicate delivery ended it)', async () => {
    // The thumbnail trigger reads the upload's job, then executes it with that read: another delivery may end it between.
    const { job: read } = await runtime.create(heldJob, { id: 'h24', data: { n: 1 } });
    await statuses.update('h24', () => ({ status: 'succeeded', result: { n: 1 }, attemptsIncrement: 1 }));
    const ended = structuredClone(statuses.jobs.get('h24'));
    const eventsBefore = statuses.events('h24').length;
    let ran = 0;
    attempt = () => {
      ran++;
      return Promise.resolve({ n: 2 });
    };
    assert.equal((await runtime.execute(heldJob, 'h24', { job: read })).outcome, 'already-finished');
    assert.equal(ran, 0, 'not run again');
    assert.deepEqual(statuses.jobs.get('h24'), ended, 'no attempt counted, nothing written on its end');
    assert.equal(statuses.events('h24').length, eventsBefore);
  });

  it('reports an attempt that saw the cancellation in its own checkpoint as cancelled, as one that did not write', async () => {
    // The way a job finds itself cancelled: its checkpoint (written nothing, on an ended job) returns the job.
    const checkpointed = defineJob<{ n: number }, { n: number }>({
      type: 'held',
      data: z.object({ n: z.number() }),
      async run(job, context) {
        await gate.opened;
        const seen = await context.checkpoint({ data: { n: 2 }, progress: { step: 'page', index: 1, total: 2 } });
        if (seen.status === 'cancelled') throw new JobCancelledError('HELD_CANCELLED', 'cancelled after 1 page');
        return { n: job.data.n };
      },
    });
    const gate = latch();
    await runtime.create(checkpointed, { id: 'h22', data: { n: 1 } });
    const running = runtime.execute(checkpointed, 'h22');
    await endWhileRunning('h22', cancelledByOwner);
    gate.open();
    const stopped = await running;
    assert.equal(stopped.outcome, 'cancelled');
    assert.equal(statuses.jobs.get('h22')?.error?.code, 'HELD_CANCELLED');
    assert.equal(statuses.jobs.get('h22')?.data['n'], 1, 'no checkpoint written on top of the cancellation');
  });

  it("lists a job cancelled while it ran whose cancel's host died before its listing row, when the attempt stops", async () => {
    await runtime.create(heldJob, { id: 'h23', data: { n: 1 } });
    const gate = holdAttempt(() =>
      Promise.reject(new JobCancelledError('HELD_CANCELLED', 'cancelled after 3 pages; nothing committed')),
    );
    const running = runtime.execute(heldJob, 'h23', {});
    await endWhileRunning('h23', cancelledByOwner);
    statuses.listing.set('h23', 'active'); // the cancel's host died after the job's write, before its row's
    gate.open();
    assert.equal((await running).outcome, 'cancelled');
    assert.equal(statuses.listing.get('h23'), 'cancelled');
  });

  it('lists a job ended by a host that died before its listing row, when its work comes again', async () => {
    for (const [id, options] of [
      ['h16', { create: { data: { n: 1 } } }],
      ['h17', made],
    ] as const) {
      assert.equal((await runtime.execute(heldJob, id, options)).outcome, 'succeeded');
      statuses.listing.delete(id); // the row the dead host never wrote
      assert.equal((await runtime.execute(heldJob, id, options)).outcome, 'already-finished');
      assert.equal(statuses.listing.get(id), 'succeeded');
    }
    assert.deepEqual(writes(), [
      ['h16', 'insert', 'succeeded'],
      ['h16', 'repair', 'succeeded'],
      ['h17', 'insert', 'succeeded'],
      ['h17', 'repair', 'succeeded'],
    ]);
    // A row that is right is read, not written.
    const reads = statuses.indexReads;
    assert.equal((await runtime.execute(heldJob, 'h16', { create: { data: { n: 1 } } })).outcome, 'already-finished');
    assert.equal(statuses.indexReads, reads + 1);
    assert.equal(statuses.indexWrites.length, 4);
  });

  it('still writes and lists a job created to wait in a queue at once', async () => {
    await runtime.create(heldJob, { id: 'h12', data: { n: 1 } });
    assert.deepEqual(writes(), [['h12', 'create', 'active']]);
  });
});
