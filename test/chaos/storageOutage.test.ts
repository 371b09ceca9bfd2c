import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { startAzurite } from '../../devhost/azurite';
import { startApp } from '../support/appHost';
import { CHAOS_ENV, FULL, report, stockUp, submitOrders, type Submitted, submitUploads, verify } from './workload';

describe('chaos: storage outage', () => {
  it('retries through a storage outage, logs it clearly, and finishes everything after storage returns', async () => {
    const location = mkdtempSync(path.join(os.tmpdir(), 'azurite-outage-'));
    let azurite = await startAzurite({ location });
    const ports = azurite.ports;
    const previous = process.env['TEST_STORAGE_CONNECTION_STRING'];
    // This test's own Azurite, on disk, so it can be stopped and started again on the same data.
    process.env['TEST_STORAGE_CONNECTION_STRING'] = azurite.connectionString;
    const { host, prefix } = await startApp({ env: { ...CHAOS_ENV, AzureWebJobsStorage: azurite.connectionString } });
    const outageMs = FULL ? 20_000 : 6_000;
    try {
      await stockUp(host);
      const submitted: Submitted = { orders: [], uploads: [] };
      await submitUploads(prefix, FULL ? 40 : 6, submitted);
      await submitOrders(host, FULL ? 60 : 12, submitted);
      // Azurite saves its data when it shuts down cleanly (SIGTERM); a kill -9 of Azurite could lose its last
      // writes, which is Azurite's guarantee, not Azure Storage's.
      await azurite.stop();
      const health = await fetch(host.url('/api/health'));
      assert.equal(health.status, 503, 'health reports the outage');
      await new Promise((resolve) => setTimeout(resolve, outageMs));
      azurite = await startAzurite({ location, blobPort: ports.blob, queuePort: ports.queue, tablePort: ports.table });
      const verdict = await verify(host, prefix, submitted, FULL ? 240_000 : 120_000);
      const outageLines = host.lines(/unreachable|cannot be scanned/).length;
      report('storage-outage', verdict, { outageMs, outageLogLines: outageLines });
      // A short outage hides inside the storage SDK's own retries (seconds of exponential backoff); a long one is
      // logged by every listener once, and again when storage returns.
      if (outageMs >= 20_000) assert.ok(outageLines > 0, 'the outage is logged');
      assert.deepEqual(verdict.lostOrders, []);
      assert.deepEqual(verdict.missingThumbnails, []);
      assert.deepEqual(verdict.duplicatedEffects, []);
      assert.deepEqual(verdict.leftoverEffects, []);
      assert.deepEqual(verdict.stockDrift, {});
    } finally {
      await host.stop();
      await azurite.stop();
      process.env['TEST_STORAGE_CONNECTION_STRING'] = previous;
      rmSync(location, { recursive: true, force: true });
    }
  });
});
