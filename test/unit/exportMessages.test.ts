import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import type { ContainerClient } from '@azure/storage-blob';

import { defineExportJob } from '../../shared/exports/exportJob';
import {
  type ExportQueueServices,
  handleExportMessage,
  recordPoisonedExport,
  requestExport,
} from '../../shared/exports/exportMessages';
import { JobRuntime } from '../../shared/jobs/jobRuntime';
import type { QueueDelivery } from '../../shared/jobs/queueDelivery';
import { MemoryDeadLetters, MemoryJobStatuses } from '../support/memoryJobPorts';

function delivery(queue: string, text: string): QueueDelivery {
  return { queue, messageId: `m-${text.length}`, insertedAt: new Date('2026-11-25T10:00:00Z'), text, dequeueCount: 1 };
}

describe('export queue use cases', () => {
  let statuses: MemoryJobStatuses;
  let deadLetters: MemoryDeadLetters;
  let services: ExportQueueServices;
  let sent: { queue: string; body: unknown }[];

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
  });

  it('starts an export under a new exp_ id and queues one message naming only the job', async () => {
    const sender = {
      send: (queue: string, body: unknown) => {
        sent.push({ queue, body });
        return Promise.resolve();
      },
    };
    const jobId = await requestExport({ ...services, sender }, { from: '2026-11-01', to: '2026-11-03', format: 'csv' });
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
    const jobId = await requestExport(
      { ...services, sender: { send: () => Promise.resolve() } },
      { from: '2026-11-01', to: '2026-11-01', format: 'json' },
    );
    const letter = await recordPoisonedExport(services, delivery('exports-poison', 'x'), { jobId });
    assert.deepEqual(letter.source, { kind: 'queue', queue: 'exports' });
    assert.equal(letter.jobId, jobId);
    assert.equal(letter.dequeueCount, 5);
    assert.equal(statuses.jobs.get(jobId)?.status, 'failed');

    const unreadable = await recordPoisonedExport(services, delivery('exports-poison', 'yy'), 'garbage');
    assert.equal(unreadable.jobId, undefined);
  });
});
