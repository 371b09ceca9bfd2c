import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { emptyAggregate } from '../../shared/batch/dailyReport';
import type { NightlyServices } from '../../shared/batch/nightlyBatch';
import { handleNightlyRunMessage, recordPoisonedNightlyRun } from '../../shared/batch/nightlyMessages';
import { type NightlyRequestServices, requestNightlyRun } from '../../shared/batch/nightlyRequests';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import { MemoryDeadLetters, MemoryJobStatuses } from '../support/memoryJobPorts';

/** Only what these cases reach: the runtime and the run claims. */
function nightlyServices(
  claim: 'completed' | 'in-flight',
  calls: string[],
  statuses = new MemoryJobStatuses(),
): NightlyServices {
  const runtime = new JobRuntime({ statuses, deadLetters: new MemoryDeadLetters() });
  const runs = {
    ensureTable: () => {
      calls.push('ensureTable');
      return Promise.resolve();
    },
    claim: (date: string, jobId: string, _checkpoint: unknown, force: boolean) => {
      calls.push(`claim ${date} ${jobId} force=${force}`);
      const run = {
        date,
        jobId,
        attempt: 1,
        state: claim === 'completed' ? 'succeeded' : 'running',
        heartbeatAt: new Date().toISOString(),
        checkpoint: { phase: 'done', aggregate: emptyAggregate(), itemsDone: 0, findings: {} },
      };
      return Promise.resolve({ kind: claim, run });
    },
    leaseLapsesAt: () => Date.now() + 60_000,
  };
  const runAgainLater = (date: string, delayMs: number) => {
    calls.push(`run ${date} again in ${Math.round(delayMs / 1000)} s`);
    return Promise.resolve();
  };
  // The batch itself is tested end to end (test/e2e/nightly.test.ts) and on Azurite (nightlyRecovery); these cases
  // stop at the claim.
  return { runtime, runs, runAgainLater, reports: { containerName: 'reports' } } as unknown as NightlyServices;
}

describe('nightly run messages', () => {
  it('ignores a message that names no valid date, after preparing the runs table', async () => {
    const calls: string[] = [];
    for (const message of [{ date: '2026-02-30' }, { force: true }, 'garbage']) {
      const handled = await handleNightlyRunMessage(nightlyServices('completed', calls), message);
      assert.equal(handled.outcome, 'invalid', JSON.stringify(message));
    }
    assert.deepEqual(calls, ['ensureTable', 'ensureTable', 'ensureTable']);
  });

  it("runs the message's date, passing force on, and reports the batch's outcome", async () => {
    const calls: string[] = [];
    assert.deepEqual(await handleNightlyRunMessage(nightlyServices('completed', calls), { date: '2026-11-24' }), {
      outcome: 'ran',
      date: '2026-11-24',
      result: 'already-done',
    });
    assert.deepEqual(
      await handleNightlyRunMessage(nightlyServices('in-flight', calls), { date: '2026-11-23', force: true }),
      { outcome: 'ran', date: '2026-11-23', result: 'in-flight' },
    );
    assert.deepEqual(calls, [
      'ensureTable',
      'claim 2026-11-24 nightly_20261124 force=false',
      'ensureTable',
      'claim 2026-11-23 nightly_20261123 force=true',
      // Its owner may be dead: asked for again (not forced) just after the lease lapses.
      'run 2026-11-23 again in 61 s',
    ]);
  });

  it('asks again for a live run as long as it lasts, and gives up on one taken over and found in flight again and again', async () => {
    const relayed: unknown[] = [];
    const services = nightlyServices('in-flight', []);
    services.runAgainLater = (_date, _delayMs, seen) => {
      relayed.push(seen);
      return Promise.resolve();
    };
    // The run in flight is attempt 1 (see nightlyServices): its owner saved since the last look, and is alive.
    const live = { date: '2026-11-23', inFlight: { attempt: 1, takeovers: 3 } };
    assert.deepEqual(await handleNightlyRunMessage(services, live), {
      outcome: 'ran',
      date: '2026-11-23',
      result: 'in-flight',
    });
    assert.deepEqual(
      relayed.map((seen) => ({ ...(seen as object), progress: typeof (seen as { progress?: unknown }).progress })),
      [{ attempt: 1, takeovers: 3, progress: 'string' }],
    );
    // Taken over since, but the run saved progress between the two looks (a long run resumed piece by piece): the
    // count starts again.
    await handleNightlyRunMessage(services, {
      date: '2026-11-23',
      inFlight: { attempt: 2, takeovers: 3, progress: 'elsewhere' },
    });
    assert.equal((relayed[1] as { takeovers?: number }).takeovers, 0);
    // Taken over since with its checkpoint where it was, for the fourth time in a row found in flight again having
    // saved nothing: it is not asked for again, and the delivery fails (its retries end in the poison queue).
    const { progress } = relayed[0] as { progress: string };
    await assert.rejects(
      handleNightlyRunMessage(services, { date: '2026-11-23', inFlight: { attempt: 2, takeovers: 3, progress } }),
      { code: 'BATCH_RUN_GIVEN_UP' },
    );
    assert.equal(relayed.length, 2);
  });

  it('reads no listing row for a run whose job its request made; one that finds its date done lists it', async () => {
    const statuses = new MemoryJobStatuses();
    const id = 'nightly_20261124';
    // POST /api/batch/nightly/run made the job (and listed it), then queued the message.
    await statuses.create({ id, type: 'nightly', data: { date: '2026-11-24' } });
    const reads = statuses.indexReads;
    const running = await handleNightlyRunMessage(nightlyServices('in-flight', [], statuses), { date: '2026-11-24' });
    assert.equal(running.outcome === 'ran' && running.result, 'in-flight');
    assert.equal(statuses.indexReads, reads, 'the normal path pays no listing read');
    // Ended by a run whose host died before its row: a message for that date, finding it done, lists it.
    await statuses.update(id, () => ({ status: 'succeeded' }));
    statuses.listing.set(id, 'active');
    const done = await handleNightlyRunMessage(nightlyServices('completed', [], statuses), { date: '2026-11-24' });
    assert.equal(done.outcome === 'ran' && done.result, 'already-done');
    assert.equal(statuses.listing.get(id), 'succeeded');
  });

  it('reads no listing row when a done date is run again on demand: the run it starts lists the job', async () => {
    const statuses = new MemoryJobStatuses();
    const runtime = new JobRuntime({ statuses, deadLetters: new MemoryDeadLetters() });
    await statuses.create({ id: 'nightly_20261124', type: 'nightly', data: { date: '2026-11-24' } });
    await statuses.update('nightly_20261124', () => ({ status: 'succeeded' }));
    const sent: unknown[] = [];
    const services = {
      runtime,
      runs: {
        get: () => Promise.resolve({ state: 'succeeded', jobId: 'nightly_20261124' }),
        isStale: () => false,
      },
      sender: {
        send: (_queue: string, body: unknown) => {
          sent.push(body);
          return Promise.resolve();
        },
      },
      runQueue: 'nightly-run',
      leaseMs: 60_000,
    } as unknown as NightlyRequestServices;
    const reads = statuses.indexReads;
    const requested = await requestNightlyRun(
      services,
      { date: '2026-11-24', force: true },
      new Date('2026-11-25T09:00:00Z'),
    );
    assert.equal(requested.outcome, 'accepted');
    assert.deepEqual(sent, [{ date: '2026-11-24', force: true }]);
    assert.equal(statuses.indexReads, reads);
  });

  it("records a poisoned run message against the run queue and its date's job", async () => {
    const deadLetters = new MemoryDeadLetters();
    const statuses = new MemoryJobStatuses();
    const runtime = new JobRuntime({ statuses, deadLetters });
    await statuses.create({ id: 'nightly_20261124', type: 'nightly', data: { date: '2026-11-24' } });
    const delivery = {
      queue: 'nightly-run-poison',
      messageId: 'm-1',
      insertedAt: new Date('2026-11-25T03:00:00Z'),
      text: '{"date":"2026-11-24"}',
      dequeueCount: 1,
    };
    const services = { runtime, runQueue: 'nightly-run' };
    const letter = await recordPoisonedNightlyRun(services, delivery, { date: '2026-11-24' });
    assert.deepEqual(letter.source, { kind: 'queue', queue: 'nightly-run' });
    assert.equal(letter.jobId, 'nightly_20261124');
    assert.equal(letter.body, '{"date":"2026-11-24"}');
    assert.equal(statuses.jobs.get('nightly_20261124')?.status, 'failed');
    const unreadable = await recordPoisonedNightlyRun(services, { ...delivery, messageId: 'm-2' }, { date: 'x' });
    assert.equal(unreadable.jobId, undefined);
  });
});
