import { randomBytes } from 'node:crypto';
import path from 'node:path';

import type { BenchContext, BenchResult } from './benchContext';
import { CountingProxy, type Service } from './countingProxy';
import { DevhostChild } from './devhostChild';
import { percentile, round } from './stats';

const ORDERS = 100;
const IDLE_SAMPLE_MS = 4000;
const REPO = path.resolve(__dirname, '..', '..');
const MASTER_KEY = 'bench-master-key';
const ORDER = {
  customer: { name: 'Bench', email: 'bench@example.com' },
  items: [{ sku: 'MUG-1', quantity: 1 }],
  payment: { cardNumber: '4242424242424242' },
  shippingAddress: { line1: '1 Main St', city: 'Town', postalCode: '12345', country: 'GB' },
};
/** The least the design can do per order, by reading the code: see the table's note. */
const MINIMUM: Record<Service, number> = { queue: 8, table: 14, blob: 1 };

function portsOf(connectionString: string): Record<Service, number> {
  const port = (name: string) =>
    Number(new RegExp(`${name}Endpoint=http://[^:]+:(\\d+)`).exec(connectionString)?.[1] ?? 0);
  return { blob: port('Blob'), queue: port('Queue'), table: port('Table') };
}

/** Orders per second end to end through devhost, and storage operations per order by service. */
export async function orderThroughputBench(context: BenchContext): Promise<BenchResult> {
  const proxy = await CountingProxy.start(portsOf(context.connectionString));
  const prefix = `o${randomBytes(4).toString('hex')}`;
  const host = new DevhostChild(REPO, {
    AzureWebJobsStorage: proxy.connectionString,
    RESOURCE_PREFIX: prefix,
    AzureFunctionsWebHost__hostid: `bench-${prefix}`,
    DEVHOST_MASTER_KEY: MASTER_KEY,
    SEED_DEMO_CATALOGUE: 'true',
  });
  try {
    await host.waitFor('start', () => host.count(/Host started/) > 0, 60_000);
    const port = Number(/http:\/\/localhost:(\d+)\/api\/orders/.exec(host.lines.join('\n'))?.[1] ?? 0);
    const base = `http://localhost:${port}`;
    const stocked = await fetch(`${base}/api/inventory/MUG-1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-functions-key': MASTER_KEY },
      body: JSON.stringify({ stock: 1_000_000 }),
    });
    if (stocked.status !== 200) throw new Error(`stock: ${stocked.status}`);
    // The idle cost: listeners polling empty queues, timers, the blob scanner.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    proxy.reset();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const idlePerSecond = { ...proxy.counts };
    proxy.reset();

    const startedAt = new Map<string, number>();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (startedAt.size < ORDERS) {
          const sent = Date.now();
          const response = await fetch(`${base}/api/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(ORDER),
          });
          const { jobId } = (await response.json()) as { jobId: string };
          startedAt.set(jobId, sent);
        }
      }),
    );
    const done = /order (\S+) email: done/;
    await host.waitFor(`${startedAt.size} orders`, () => host.count(done) >= startedAt.size, 300_000);
    const elapsedMs = Date.now() - started;
    const counts = { ...proxy.counts };
    const latencies: number[] = [];
    for (const line of host.lines) {
      const match = done.exec(line);
      const sent = match?.[1] ? startedAt.get(match[1]) : undefined;
      if (sent !== undefined) latencies.push(Date.parse(line.slice(1, 25)) - sent);
    }
    const lastDone = Math.max(...host.timestamps(done));
    const perOrder = (service: Service) =>
      round(
        (counts[service] - (idlePerSecond[service] / (IDLE_SAMPLE_MS / 1000)) * (elapsedMs / 1000)) / startedAt.size,
        1,
      );
    const markdown = [
      `${startedAt.size} orders (one line each, the success card), posted 4 at a time to the real app in devhost; storage requests counted by an HTTP proxy in front of Azurite, minus the idle polling measured just before (per second: queue ${round(idlePerSecond.queue / (IDLE_SAMPLE_MS / 1000), 1)}, table ${round(idlePerSecond.table / (IDLE_SAMPLE_MS / 1000), 1)}, blob ${round(idlePerSecond.blob / (IDLE_SAMPLE_MS / 1000), 1)}).`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| orders per second, end to end (first POST to last confirmation email) | ${round(startedAt.size / ((lastDone - started) / 1000))} |`,
      `| end-to-end latency p50 / p99 | ${percentile(latencies, 50)} ms / ${percentile(latencies, 99)} ms |`,
      `| queue operations per order (design minimum ${MINIMUM.queue}) | ${perOrder('queue')} |`,
      `| table operations per order (design minimum ${MINIMUM.table}) | ${perOrder('table')} |`,
      `| blob operations per order (design minimum ${MINIMUM.blob}) | ${perOrder('blob')} |`,
      '',
      "Design minimum, read from the code: queue — per step one send and one delete (receives are batched, so they round to zero); table — per step one checkpoint read, one conditional checkpoint write and one effect write, plus the job's creation and the sales-ledger row; blob — the confirmation `.eml` in the outbox. Above the minimum for tables: the catalogue read that prices the order, the listing index row (written at creation and when the order ends), the `running` write before the first effect, the stock read before the reservation transaction, and the email's claim before sending (the timeline rides inside the job's status writes). Above it for queues: polling receives that return fewer messages than a batch, and the look at the high-priority queue (at most once a second per host).",
    ].join('\n');
    return { title: 'Orders: end-to-end throughput and storage operations per order', markdown };
  } finally {
    await host.stop();
    await proxy.stop();
  }
}
