import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { defineExportJob } from '../../shared/exports/exportJob';
import {
  type ExportQueueServices,
  handleExportMessage,
  recordPoisonedExport,
  requestExport,
  type RequestExportServices,
} from '../../shared/exports/exportMessages';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import type { QueueDelivery } from '../../shared/jobs/queueDelivery';
import type { IdempotencyKeys, IdempotencyOutcome } from '../../shared/orders/idempotencyKeys';
import { MemoryDeadLetters, MemoryJobStatuses } from '../support/memoryJobPorts';

/** The key store's insert-if-absent in memory (the store itself runs against Azurite in the e2e tests). */
class MemoryKeys implements Pick<IdempotencyKeys, 'claim'> {
  readonly claims = new Map<string, { fingerprint: string; jobId: string }>();

  claim(key: string, fingerprint: string, proposedJobId: string): Promise<IdempotencyOutcome> {
    const existing = this.claims.get(key);
    if (!existing) {
      this.claims.set(key, { fingerprint, jobId: proposedJobId });
      return Promise.resolve({ kind: 'new', jobId: proposedJobId });
    }
    const kind = existing.fingerprint === fingerprint ? 'repeat' : 'mismatch';
    return Promise.resolve({ kind, jobId: existing.jobId });
  }
}

const REQUEST = { from: '2026-11-01', to: '2026-11-03', format: 'csv' } as const;

function delivery(queue: string, text: string): QueueDelivery {
  return { queue, messageId: `m-${text.length}`, insertedAt: new Date('2026-11-25T10:00:00Z'), text, dequeueCount: 1 };
}

describe('export queue use cases', () => {
  let statuses: MemoryJobStatuses;
  let deadLetters: MemoryDeadLetters;
  let services: ExportQueueServices;
  let sent: { queue: string; body: unknown }[];
  let keys: MemoryKeys;
  /** Sends of `starting` that fail before they fail no more (a storage outage, a host that dies first). */
  let failingSends: number;
  let starting: RequestExportServices;

  beforeEach(() => {
    statuses = new MemoryJobStatuses();
    deadLetters = new MemoryDeadLetters();
    sent = [];
    const runtime = new JobRuntime({ statuses, deadLetters });
    // The run itself is unit-tested in exports.test.ts; these cases never reach it.
    const job = defineExportJob({
      runtime,
      orders: { page: () => Promise.reject(new Error('not read here')) },
      exports: {} as ContainerClient,
      queue: 'exports',
      downloadUrl: (id) => `/api/exports/${id}/file`,
    });
    services = { runtime, job, queue: 'exports' };
    keys = new MemoryKeys();
    failingSends = 0;
    starting = {
      ...services,
      sender: {
        send: (queue, body) => {
          if (failingSends > 0) {
            failingSends -= 1;
            return Promise.reject(new Error('queue unavailable'));
          }
          sent.push({ queue, body });
          return Promise.resolve();
        },
      },
      idempotencyKeys: () => Promise.resolve(keys),
    };
  });

  /** The job id of an accepted request (fails the test on any other outcome). */
  function acceptedId(outcome: Awaited<ReturnType<typeof requestExport>>): string {
    assert.ok(outcome.outcome === 'accepted', JSON.stringify(outcome));
    return outcome.jobId;
  }

  it('starts an export under a new exp_ id and queues one message naming only the job', async () => {
    const sender = {
      send: (queue: string, body: unknown) => {
        sent.push({ queue, body });
        return Promise.resolve();
      },
    };
    const jobId = acceptedId(await requestExport({ ...starting, sender }, REQUEST));
    assert.match(jobId, /^exp_[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(sent, [{ queue: 'exports', body: { jobId } }]);
    const job = statuses.jobs.get(jobId);
    assert.equal(job?.type, 'export');
    assert.equal(job?.data['label'], 'csv of 2026-11-01 to 2026-11-03');
  });

  it('records a message that is not an export message as a dead letter at once, body intact', async () => {
    const text = '{"jobId":"not-an-export"}';
    const handled = await handleExportMessage(services, delivery('exports', text), JSON.parse(text));
    assert.ok(handled.outcome === 'malformed');
    assert.equal(handled.deadLetter.body, text);
    assert.equal(handled.deadLetter.error.code, 'MALFORMED_MESSAGE');
    assert.deepEqual(handled.deadLetter.source, { kind: 'queue', queue: 'exports' });
  });

  it('answers unknown-job for a well-formed message whose job does not exist', async () => {
    const jobId = 'exp_AAAAAAAAAAAAAAAAAAAAAA';
    const handled = await handleExportMessage(services, delivery('exports', 'x'), { jobId });
    assert.deepEqual(handled, { outcome: 'executed', jobId, execution: { outcome: 'unknown-job' } });
    assert.equal(deadLetters.letters.size, 0);
  });

  it('records a poisoned message against the export queue, failing the job it names', async () => {
    const jobId = acceptedId(
      await requestExport(
        { ...starting, sender: { send: () => Promise.resolve() } },
        { from: '2026-11-01', to: '2026-11-01', format: 'json' },
      ),
    );
    const letter = await recordPoisonedExport(services, delivery('exports-poison', 'x'), { jobId });
    assert.deepEqual(letter.source, { kind: 'queue', queue: 'exports' });
    assert.equal(letter.jobId, jobId);
    assert.equal(letter.dequeueCount, 5);
    assert.equal(statuses.jobs.get(jobId)?.status, 'failed');

    const unreadable = await recordPoisonedExport(services, delivery('exports-poison', 'yy'), 'garbage');
    assert.equal(unreadable.jobId, undefined);
  });

  it('without an Idempotency-Key, every request is a new export and no key is claimed', async () => {
    const first = acceptedId(await requestExport(starting, REQUEST));
    const second = acceptedId(await requestExport(starting, REQUEST));
    assert.notEqual(first, second);
    assert.equal(keys.claims.size, 0);
    assert.deepEqual(sent, [
      { queue: 'exports', body: { jobId: first } },
      { queue: 'exports', body: { jobId: second } },
    ]);
  });

  it('a retry with the same key after a failed send gets the first export, queued this time', async () => {
    failingSends = 1;
    await assert.rejects(requestExport(starting, REQUEST, 'nightly-2026-11-03'), /queue unavailable/);
    const [created] = [...statuses.jobs.keys()];
    assert.ok(created, 'the first request created the job before its send failed');
    assert.equal(statuses.jobs.get(created)?.status, 'queued');
    assert.deepEqual(sent, []);

    assert.equal(acceptedId(await requestExport(starting, REQUEST, 'nightly-2026-11-03')), created);
    assert.deepEqual(sent, [{ queue: 'exports', body: { jobId: created } }], 'queued by the retry');
    assert.equal(statuses.jobs.size, 1, 'no second export');
  });

  it('a repeat of a started export gets the same job and queues nothing more', async () => {
    const jobId = acceptedId(await requestExport(starting, REQUEST, 'k-1'));
    await statuses.update(jobId, () => ({ status: 'running' }));
    assert.equal(acceptedId(await requestExport(starting, REQUEST, 'k-1')), jobId);
    assert.equal(sent.length, 1);
  });

  it('refuses the same key with another body, and a key that is not 1-200 visible ASCII characters', async () => {
    acceptedId(await requestExport(starting, REQUEST, 'k-2'));
    assert.deepEqual(await requestExport(starting, { ...REQUEST, format: 'json' }, 'k-2'), {
      outcome: 'idempotency-key-reused',
    });
    for (const bad of ['', 'has space', 'x'.repeat(201), 'caf\u00e9']) {
      assert.deepEqual(await requestExport(starting, REQUEST, bad), {
        outcome: 'invalid',
        errors: [{ field: 'Idempotency-Key', message: 'must be 1-200 visible ASCII characters' }],
      });
    }
    assert.equal(statuses.jobs.size, 1);
  });
});
