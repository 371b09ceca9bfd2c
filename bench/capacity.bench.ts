import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { QueueServiceClient } from '@azure/storage-queue';
import sharp from 'sharp';

import { BLOB_TRIGGER_POISON_QUEUE, resourceNames } from '../shared/storage/resourceNames';
import type { BenchContext, BenchResult } from './benchContext';
import {
  type CapacityReport,
  capacityReport,
  type IdleRates,
  idleRates,
  reportMarkdown,
  type ResourceRules,
  TARGETS,
} from './capacityModel';
import { type CountedRequest, CountingProxy, type Service } from './countingProxy';
import { DevhostChild } from './devhostChild';
import { round } from './stats';

const ORDERS = 200;
const UPLOADS = 40;
const CONCURRENCY = 4;
const IDLE_SAMPLE_MS = 6000;
/** A phase has ended when no storage request but polling has been seen for this long. */
const QUIET_MS = 1500;
const REPO = path.resolve(__dirname, '..', '..');
const MASTER_KEY = 'bench-master-key';
/** Orders spread over this many SKUs, round robin: a catalogue, not one product (one SKU's limit is shown apart). */
const SKUS = Array.from({ length: 8 }, (_, i) => `BENCH-${i + 1}`);
const HOT_SKU = 'BENCH-HOT';
const HOT_SKU_ORDERS = 100;
const ORDER = {
  customer: { name: 'Bench', email: 'bench@example.com' },
  payment: { cardNumber: '4242424242424242' },
  shippingAddress: { line1: '1 Main St', city: 'Town', postalCode: '12345', country: 'GB' },
};

function portsOf(connectionString: string): Record<Service, number> {
  const port = (name: string) =>
    Number(new RegExp(`${name}Endpoint=http://[^:]+:(\\d+)`).exec(connectionString)?.[1] ?? 0);
  return { blob: port('Blob'), queue: port('Queue'), table: port('Table') };
}

async function pool(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** Waits until the proxy has seen nothing but polling for QUIET_MS, so a phase's trailing work is counted in it. */
async function quiet(proxy: CountingProxy, idle: IdleRates, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const since = Date.now() - QUIET_MS;
    const recent = proxy.requests.filter((r) => r.at >= since && !r.emptyReceive).length;
    // The idle rate (timers, leases, the blob scanner) goes on throughout: allow it.
    if (recent <= Math.ceil(idle.requestsPerSecond * (QUIET_MS / 1000)) + 1 || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function commitOf(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/RESULTS.md'],
      {
        cwd: REPO,
        encoding: 'utf8',
      },
    ).trim();
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown';
  }
}

interface Phase {
  unit: string;
  units: number;
  seconds: number;
  requests: CountedRequest[];
  note: string;
}

/**
 * The capacity report: the real app in devhost behind the counting proxy; idle polling measured first, then orders,
 * uploads and a nightly run one after another, each phase's storage requests grouped by resource and divided into
 * Azure's published targets (see capacityModel.ts).
 */
export async function capacityBench(context: BenchContext): Promise<BenchResult> {
  const proxy = await CountingProxy.start(portsOf(context.connectionString));
  const prefix = `c${randomBytes(4).toString('hex')}`;
  const rules: ResourceRules = {
    prefix,
    partitionLabels: { inventory: '{sku}', idempotency: '{key hash}' },
    literals: [
      [`bench-${prefix}`, '{host id}'],
      [`${prefix}-`, ''],
    ],
  };
  const host = new DevhostChild(REPO, {
    AzureWebJobsStorage: proxy.connectionString,
    RESOURCE_PREFIX: prefix,
    AzureFunctionsWebHost__hostid: `bench-${prefix}`,
    DEVHOST_MASTER_KEY: MASTER_KEY,
    SEED_DEMO_CATALOGUE: 'true',
  });
  const phases: Phase[] = [];
  // A deployment that has run a while has all its queues, poison twins too: its listeners receive (empty receives,
  // excluded as polling) rather than probe for queues that do not exist yet.
  const queues = QueueServiceClient.fromConnectionString(context.connectionString);
  const names = resourceNames(prefix);
  for (const queue of [
    ...names.triggerQueues.flatMap((q) => [q, `${q}-poison`]),
    `azure-webjobs-blobtrigger-bench-${prefix}`,
    BLOB_TRIGGER_POISON_QUEUE,
  ]) {
    await queues.getQueueClient(queue).createIfNotExists();
  }
  try {
    await host.waitFor('start', () => host.count(/Host started/) > 0, 60_000);
    const port = Number(/http:\/\/localhost:(\d+)\/api\/orders/.exec(host.lines.join('\n'))?.[1] ?? 0);
    const base = `http://localhost:${port}`;
    for (const sku of [...SKUS, HOT_SKU]) {
      const stocked = await fetch(`${base}/api/inventory/${sku}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-functions-key': MASTER_KEY },
        body: JSON.stringify({ stock: 1_000_000, priceCents: 1200 }),
      });
      if (stocked.status !== 200) throw new Error(`stock: ${stocked.status}`);
    }

    // Idle: listeners polling empty queues, timers, leases, the blob scanner. Measured alone, then excluded.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    proxy.reset();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
    const idleRequests = proxy.take();
    const idle = idleRates(idleRequests, IDLE_SAMPLE_MS / 1000, rules);
    context.log(
      `idle: ${round(idle.requestsPerSecond, 1)} requests/s besides ${round(idle.emptyReceivesPerSecond, 1)} empty receives/s`,
    );

    const done = /order (\S+) email: done/;
    const orders = async (count: number, skuOf: (index: number) => string, unit: string, note: string) => {
      const before = host.count(done);
      const started = Date.now();
      await pool(count, CONCURRENCY, async (index) => {
        const response = await fetch(`${base}/api/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...ORDER, items: [{ sku: skuOf(index), quantity: 1 }] }),
        });
        if (response.status !== 202) throw new Error(`order: ${response.status} ${await response.text()}`);
        await response.body?.cancel();
      });
      await host.waitFor(`${count} orders`, () => host.count(done) >= before + count, 600_000);
      await quiet(proxy, idle);
      phases.push({ unit, units: count, seconds: (Date.now() - started) / 1000, requests: proxy.take(), note });
      context.log(`${unit}: ${phases.at(-1)?.requests.length ?? 0} requests`);
    };
    await orders(
      ORDERS,
      (index) => SKUS[index % SKUS.length] ?? 'BENCH-1',
      'order',
      `${ORDERS} orders of one line each, over ${SKUS.length} SKUs in turn, ${CONCURRENCY} at a time, from POST to confirmation email`,
    );
    // One product everyone wants: every order on the same stock row.
    await orders(
      HOT_SKU_ORDERS,
      () => HOT_SKU,
      'order of one SKU',
      `${HOT_SKU_ORDERS} orders all of the same SKU, ${CONCURRENCY} at a time: the SKU's stock row is shared by all of them`,
    );

    let started = Date.now();
    // Uploads: the valet-key flow (POST /api/uploads, PUT to the SAS URL), then the blob trigger's thumbnail job.
    const image = await sharp({
      create: { width: 640, height: 480, channels: 3, background: { r: 30, g: 120, b: 200 } },
    })
      .jpeg()
      .toBuffer();
    started = Date.now();
    await pool(UPLOADS, CONCURRENCY, async (index) => {
      const response = await fetch(`${base}/api/uploads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileName: `img-${index}.jpg`, contentType: 'image/jpeg' }),
      });
      if (response.status !== 201) throw new Error(`upload: ${response.status} ${await response.text()}`);
      const { upload } = (await response.json()) as { upload: { url: string; headers: Record<string, string> } };
      const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: image });
      if (put.status !== 201) throw new Error(`upload PUT: ${put.status} ${await put.text()}`);
    });
    const thumbnailed = /thumbnail job \S+ for \S+: succeeded/;
    await host.waitFor(`${UPLOADS} thumbnail jobs`, () => host.count(thumbnailed) >= UPLOADS, 600_000);
    await quiet(proxy, idle);
    phases.push({
      unit: 'upload',
      units: UPLOADS,
      seconds: (Date.now() - started) / 1000,
      requests: proxy.take(),
      note: `${UPLOADS} JPEG uploads of 640×480 through POST /api/uploads and the SAS URL, thumbnails in three widths`,
    });

    // One nightly run over today's ledger (the orders above).
    const today = new Date().toISOString().slice(0, 10);
    started = Date.now();
    const run = await fetch(`${base}/api/batch/nightly/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': MASTER_KEY },
      body: JSON.stringify({ date: today, force: true }),
    });
    if (run.status !== 202) throw new Error(`nightly: ${run.status} ${await run.text()}`);
    const nightlyDone = new RegExp(`nightly batch for ${today}: succeeded`);
    await host.waitFor('the nightly run', () => host.count(nightlyDone) >= 1, 600_000);
    await quiet(proxy, idle);
    phases.push({
      unit: 'nightly run',
      units: 1,
      seconds: (Date.now() - started) / 1000,
      requests: proxy.take(),
      note: `one nightly run over the day of the ${ORDERS + HOT_SKU_ORDERS} orders and ${UPLOADS} uploads above (report, retention, consistency)`,
    });
    const dump = process.env['CAPACITY_DUMP'];
    if (dump) await writeFile(dump, JSON.stringify({ prefix, idleRequests, phases }));
    return {
      title: 'Capacity: storage requests by resource, against Azure scalability targets',
      markdown: render(phases, idle, idleRequests, rules),
    };
  } finally {
    await host.stop();
    await proxy.stop();
  }
}

function render(phases: Phase[], idle: IdleRates, idleRequests: CountedRequest[], rules: ResourceRules): string {
  const reports: [Phase, CapacityReport][] = phases.map((phase) => [phase, capacityReport(phase, idle, rules)]);
  const idleRows = [...idle.byResource.values()]
    .sort((a, b) => b.requests - a.requests)
    .slice(0, 6)
    .map((r) => `${r.label} ${round(r.requests, 1)}/s`);
  const emptyByQueue = new Map<string, number>();
  for (const r of idleRequests) if (r.emptyReceive) emptyByQueue.set(r.name, (emptyByQueue.get(r.name) ?? 0) + 1);
  const lines = [
    `Measured on commit \`${commitOf()}\`. The real app in devhost, its storage behind an HTTP proxy that records every request with the resource it touched (bench/countingProxy.ts, bench/storageRequests.ts); each table partition is named by pattern (\`{job}\` one per job, \`{day}\`, \`{sku}\`, \`{n}\` a number …). Per resource, the busiest concrete resource's load per unit of work is divided into Azure's published targets (standard v2 account: [${TARGETS.accountRequestsPerSecond.toLocaleString('en-US')} requests/s per account](https://learn.microsoft.com/azure/storage/common/scalability-targets-standard-account), [${TARGETS.queueMessagesPerSecond.toLocaleString('en-US')} messages/s per queue](https://learn.microsoft.com/azure/storage/queues/scalability-targets), [${TARGETS.partitionEntitiesPerSecond.toLocaleString('en-US')} entities/s per table partition](https://learn.microsoft.com/azure/storage/tables/scalability-targets), [${TARGETS.blobRequestsPerSecond} requests/s per blob](https://learn.microsoft.com/azure/storage/blobs/scalability-targets)). A partition each unit of work has to itself (\`{job}\`) never binds: its load does not grow with throughput. Entities: an entity group transaction counts each entity, a query each entity returned; messages: each send and delete counts one, a receive one per message it got (so a message costs about three on its queue).`,
    '',
    `Idle polling, measured alone for ${idle.seconds} s and excluded below: ${round(idle.emptyReceivesPerSecond, 1)} empty receives/s over ${emptyByQueue.size} queues, plus ${round(idle.requestsPerSecond, 1)} other requests/s (${idleRows.join(', ') || 'none'}). Empty receives during the phases are dropped; every other idle request is subtracted at its idle rate.`,
    '',
  ];
  let ledgerMinutes: number | undefined;
  for (const [phase, report] of reports) {
    lines.push(
      `### Per ${phase.unit}`,
      '',
      `${phase.note}; ${round(phase.seconds, 1)} s; ${round(report.emptyReceivesPerSecond, 1)} empty receives/s meanwhile (excluded).`,
      '',
      reportMarkdown(report),
      '',
    );
    const ledger = report.resources.find((r) => r.label.startsWith('table sales / '));
    const orderCeiling = reports[0]?.[1].accountCeiling;
    if (phase.unit === 'nightly run' && ledger && orderCeiling) {
      // The run reads the day's ledger: how long that takes at the partition target, for a day at the order ceiling.
      const perOrderOfDay = ledger.hottestPerUnit / (ORDERS + HOT_SKU_ORDERS);
      const seconds = (orderCeiling * 86_400 * perOrderOfDay) / TARGETS.partitionEntitiesPerSecond;
      ledgerMinutes = seconds / 60;
      lines.push(
        `Reading the day's sales ledger (${ledger.label}, ${ledger.distinct} partition(s) read in parallel): ${round(perOrderOfDay, 3)} entities per order of the day on the busiest partition, so a day at the order ceiling (${Math.round(orderCeiling)} orders/s, ${round((orderCeiling * 86_400) / 1e6, 1)} M orders) takes at least **${round(seconds / 60, 1)} min** at the partition target.`,
        '',
      );
    }
  }
  const summary = reports.map(([, r]) => {
    const jobsTable = r.resources
      .filter((resource) => resource.label.startsWith('table jobs /'))
      .reduce((sum, resource) => sum + resource.requestsPerUnit, 0);
    const rest = r.requestsPerUnit - jobsTable;
    const perSecond = (requests: number) =>
      requests > 0 ? `${Math.round(TARGETS.accountRequestsPerSecond / requests).toLocaleString('en-US')}/s` : '—';
    const single =
      r.unit === 'nightly run'
        ? `none that matters once a day${ledgerMinutes === undefined ? '' : `; reading a day's ledger at the order ceiling ≥ ${round(ledgerMinutes, 1)} min`}`
        : r.binding
          ? `${r.binding.label}: ${Math.round(r.binding.ceiling).toLocaleString('en-US')}/s`
          : 'none';
    return `| ${r.unit} | ${round(r.requestsPerUnit, 1)} | ${round(jobsTable, 1)} | ${single} | **${perSecond(r.requestsPerUnit)}** | ${perSecond(rest)} / ${perSecond(jobsTable)} |`;
  });
  lines.push(
    '### Summary: ceilings per storage account',
    '',
    'The last column is arithmetic on the same counts, not a second run: the account limit of each account when the jobs table (status, timeline, indexes) is in its own storage account (`JOBS_STORAGE`).',
    '',
    '| job | storage requests each | of them on the jobs table | first single resource to bind | account limit, one account | jobs table in its own account: app account / jobs account |',
    '| --- | --- | --- | --- | --- | --- |',
    ...summary,
  );
  return lines.join('\n');
}
