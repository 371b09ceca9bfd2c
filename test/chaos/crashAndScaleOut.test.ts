import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startApp } from '../support/appHost';
import type { DevhostProcess } from '../support/devhostProcess';
import { waitFor } from '../support/wait';
import { CHAOS_ENV, FULL, report, stockUp, submitOrders, type Submitted, submitUploads, verify } from './workload';

function assertNothingLost(verdict: Awaited<ReturnType<typeof verify>>): void {
  assert.deepEqual(verdict.lostOrders, [], 'every order ends');
  assert.deepEqual(verdict.missingThumbnails, [], 'every upload has its thumbnails');
  assert.deepEqual(verdict.duplicatedEffects, [], 'no effect happens twice');
  assert.deepEqual(verdict.leftoverEffects, [], 'one of each effect per succeeded order, none after compensation');
  assert.deepEqual(verdict.stockDrift, {}, 'stock matches what was sold');
}

describe('chaos: crash and scale-out', () => {
  it('loses nothing and repeats nothing when the host is killed (kill -9) three times mid-run', async () => {
    const orders = FULL ? 200 : 24;
    const uploads = FULL ? 100 : 8;
    const started = await startApp({ env: CHAOS_ENV });
    const prefix = started.prefix;
    let host = started.host;
    const submitted: Submitted = { orders: [], uploads: [] };
    const kills: number[] = [];
    try {
      await stockUp(host);
      await submitUploads(prefix, uploads, submitted);
      const submitting = submitOrders(host, orders, submitted).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      );
      for (let kill = 0; kill < 3; kill++) {
        const delay = 300 + Math.floor(Math.random() * (FULL ? 4000 : 1500));
        await new Promise((resolve) => setTimeout(resolve, delay));
        // Orders are submitted through the API: wait for that before killing the first time, then restart.
        if (kill === 0) {
          const error = await submitting;
          if (error) throw error;
        }
        await host.kill();
        kills.push(delay);
        ({ host } = await startApp({ env: CHAOS_ENV, prefix }));
      }
      const verdict = await verify(host, prefix, submitted, FULL ? 300_000 : 120_000);
      report('crash', verdict, { kills: kills.length });
      assertNothingLost(verdict);
    } finally {
      await host.stop();
    }
  });

  it('three hosts on one storage account share the work with the same guarantees, and run the nightly occurrence once', async () => {
    const orders = FULL ? 500 : 30;
    const uploads = FULL ? 200 : 10;
    const env = { ...CHAOS_ENV, NIGHTLY_SCHEDULE: '*/4 * * * * *' };
    const first = await startApp({ env });
    const hosts: DevhostProcess[] = [first.host];
    try {
      hosts.push(
        (await startApp({ env, prefix: first.prefix })).host,
        (await startApp({ env, prefix: first.prefix })).host,
      );
      await stockUp(first.host);
      const submitted: Submitted = { orders: [], uploads: [] };
      await Promise.all([
        submitUploads(first.prefix, uploads, submitted),
        submitOrders(hosts[1] ?? first.host, orders, submitted),
      ]);
      const verdict = await verify(first.host, first.prefix, submitted, FULL ? 300_000 : 120_000);
      await waitFor(
        'two nightly occurrences',
        () => hosts.reduce((n, h) => n + h.lines(/nightly batch queued for/).length, 0) >= 2 || undefined,
        30_000,
      );
      const nightlyRuns = hosts.reduce((n, h) => n + h.lines(/nightly batch for .*: succeeded/).length, 0);
      const workers = hosts.filter((h) => h.lines(/order ord_\S+ \w+: done/).length > 0).length;
      report('scale-out', verdict, {
        hosts: hosts.length,
        hostsThatRanSteps: workers,
        nightlyRunsThatDidTheWork: nightlyRuns,
      });
      assertNothingLost(verdict);
      assert.equal(nightlyRuns, 1, 'one nightly run did the work');
      assert.ok(workers >= 2, `the work was shared (${workers} hosts ran steps)`);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  });
});
