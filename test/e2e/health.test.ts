import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startAzurite } from '../../devhost/azurite';
import { startApp } from '../support/appHost';
import { storageClients } from '../support/storage';

interface Report {
  status: string;
  storage: Record<'queue' | 'blob' | 'table', { ok: boolean; latencyMs: number; error?: string }>;
  reasons: string[];
}

describe('GET /api/health', () => {
  it('answers 200 with the latency of each storage service when storage answers', async () => {
    const { host } = await startApp();
    try {
      const response = await fetch(host.url('/api/health'));
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      const report = (await response.json()) as Report;
      assert.equal(report.status, 'healthy');
      for (const service of ['queue', 'blob', 'table'] as const) {
        assert.equal(report.storage[service].ok, true, service);
        assert.ok(report.storage[service].latencyMs >= 0);
      }
      assert.deepEqual(report.reasons, []);
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });

  it('answers 503 naming each storage service that does not answer', async () => {
    const azurite = await startAzurite();
    const { host } = await startApp({ env: { AzureWebJobsStorage: azurite.connectionString } });
    try {
      assert.equal((await fetch(host.url('/api/health'))).status, 200);
      await azurite.stop();
      const response = await fetch(host.url('/api/health'));
      assert.equal(response.status, 503);
      const report = (await response.json()) as Report;
      assert.equal(report.status, 'unhealthy');
      for (const service of ['queue', 'blob', 'table'] as const) {
        assert.equal(report.storage[service].ok, false, service);
        assert.ok(
          report.reasons.some((reason) => reason.startsWith(`${service} storage is unreachable`)),
          report.reasons.join('; '),
        );
      }
    } finally {
      await host.stop();
      await azurite.stop();
    }
  });

  it('answers 503 naming a poison queue that holds messages and an overdue nightly batch', async () => {
    // Only the health function runs, so nothing drains the poison queue.
    const { host, prefix } = await startApp({ args: ['--functions', 'health'] });
    try {
      const poison = storageClients().queues.getQueueClient(`${prefix}-order-payment-poison`);
      await poison.create();
      await poison.sendMessage(Buffer.from('{}').toString('base64'));
      const runs = storageClients().table(`${prefix}batchruns`);
      await runs.createTable();
      const stale = new Date(Date.now() - 5 * 86_400_000).toISOString().slice(0, 10);
      await runs.createEntity({ partitionKey: 'nightly', rowKey: stale, state: 'succeeded' });
      const response = await fetch(host.url('/api/health'));
      assert.equal(response.status, 503);
      const report = (await response.json()) as Report & { nightly: { overdue: boolean; lastSucceededDate: string } };
      assert.ok(
        report.reasons.some((r) => r.includes(`${prefix}-order-payment-poison`)),
        report.reasons.join('; '),
      );
      assert.ok(
        report.reasons.some((r) => r.includes('nightly batch is overdue')),
        report.reasons.join('; '),
      );
      assert.equal(report.nightly.overdue, true);
      assert.equal(report.nightly.lastSucceededDate, stale);
    } finally {
      assert.equal(await host.stop(), 0);
    }
  });
});
