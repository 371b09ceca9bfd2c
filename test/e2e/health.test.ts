import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startAzurite } from '../../devhost/azurite';
import { startApp } from '../support/appHost';

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
});
