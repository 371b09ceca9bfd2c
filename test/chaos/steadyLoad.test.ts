import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { percentile } from '../../bench/stats';
import { getJson, postJson, type PublicJob } from '../support/api';
import { startApp } from '../support/appHost';
import { orderBody } from '../support/orderFixtures';
import { waitFor } from '../support/wait';
import { CHAOS_ENV, FULL, report, stockUp, type Submitted, verify } from './workload';

/** Resident memory of a process in MiB, and its open file descriptors (sockets, files, pipes). */
function processUsage(pid: number): { rssMiB: number; openHandles: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMiB: Math.round(rssKiB / 1024), openHandles: readdirSync(`/proc/${pid}/fd`).length };
}

describe('chaos: steady load', () => {
  it('holds throughput at a fixed order rate, with memory and handles flat', async () => {
    const durationMs = FULL ? 5 * 60_000 : 20_000;
    const ratePerSecond = FULL ? 4 : 3;
    const { host, prefix } = await startApp({ env: CHAOS_ENV });
    const pid = host.child.pid ?? 0;
    try {
      await stockUp(host);
      const submitted: Submitted = { orders: [], uploads: [] };
      // Warm up, then take the baseline.
      for (let i = 0; i < 5; i++) {
        const r = await postJson<{ jobId: string }>(host, '/api/orders', orderBody({}, [{ sku: 'CH-A', quantity: 1 }]));
        submitted.orders.push({ jobId: r.body.jobId, card: '', sku: 'CH-A', quantity: 1 });
      }
      await waitFor(
        'the warm-up orders',
        async () => {
          for (const o of submitted.orders) {
            if ((await getJson<PublicJob>(host, `/api/jobs/${o.jobId}`)).body.status !== 'succeeded') return undefined;
          }
          return true;
        },
        30_000,
      );
      const start = processUsage(pid);
      const started = Date.now();
      const samples: { at: number; rssMiB: number; openHandles: number }[] = [];
      let next = started;
      while (Date.now() - started < durationMs) {
        const r = await postJson<{ jobId: string }>(host, '/api/orders', orderBody({}, [{ sku: 'CH-A', quantity: 1 }]));
        assert.equal(r.status, 202);
        submitted.orders.push({ jobId: r.body.jobId, card: '', sku: 'CH-A', quantity: 1 });
        if (submitted.orders.length % (ratePerSecond * 10) === 0)
          samples.push({ at: Date.now() - started, ...processUsage(pid) });
        next += 1000 / ratePerSecond;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      }
      const verdict = await verify(host, prefix, submitted, 120_000);
      const end = processUsage(pid);
      const latencies: number[] = [];
      for (const order of submitted.orders.slice(5)) {
        const job = (await getJson<PublicJob>(host, `/api/jobs/${order.jobId}`)).body;
        if (job.completedAt) latencies.push(Date.parse(job.completedAt) - Date.parse(job.createdAt));
      }
      const completedWithin = latencies.length;
      report('steady-load', verdict, {
        durationMs,
        ratePerSecond,
        ordersSubmitted: submitted.orders.length - 5,
        ordersCompleted: completedWithin,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
        rss: { startMiB: start.rssMiB, endMiB: end.rssMiB },
        openHandles: { start: start.openHandles, end: end.openHandles },
        samples,
      });
      assert.deepEqual(verdict.lostOrders, []);
      assert.deepEqual(verdict.duplicatedEffects, []);
      assert.deepEqual(verdict.stockDrift, {});
      assert.ok(end.openHandles <= start.openHandles + 50, `open handles ${start.openHandles} → ${end.openHandles}`);
      assert.ok(end.rssMiB <= start.rssMiB * 2 + 50, `RSS ${start.rssMiB} → ${end.rssMiB} MiB`);
    } finally {
      await host.stop();
    }
  });
});
