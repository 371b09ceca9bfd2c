import { randomBytes } from 'node:crypto';

import { TableClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';

import { type SalesFact, SalesFacts } from '../shared/batch/salesFacts';
import { DeadLetterStore } from '../shared/deadletters/deadLetterStore';
import { renderFooter, renderHeader, renderOrders } from '../shared/exports/exportFormats';
import { defineExportJob } from '../shared/exports/exportJob';
import { ledgerOrderPages } from '../shared/exports/orderPages';
import { JobRuntime } from '../shared/jobs/jobRuntime';
import { JobStore } from '../shared/jobs/jobStore';
import type { BenchContext, BenchResult } from './benchContext';
import { CountingProxy, type Service } from './countingProxy';
import { median, round } from './stats';

const DAYS = ['2026-01-01', '2026-01-02'];
const ORDERS_PER_DAY = 10_000;
const ROUNDS = 7;
const FROM = DAYS[0] ?? '';
const TO = DAYS.at(-1) ?? '';

function portsOf(connectionString: string): Record<Service, number> {
  const port = (name: string) =>
    Number(new RegExp(`${name}Endpoint=http://[^:]+:(\\d+)`).exec(connectionString)?.[1] ?? 0);
  return { blob: port('Blob'), queue: port('Queue'), table: port('Table') };
}

function facts(day: string): SalesFact[] {
  return Array.from({ length: ORDERS_PER_DAY }, (_, i) => ({
    orderId: `ord_${day.replace(/-/g, '')}_${i.toString().padStart(6, '0')}`,
    status: i % 20 === 0 ? 'compensated' : 'succeeded',
    totalCents: 1000 + (i % 13),
    lines: [{ sku: `SKU-${i % 25}`, quantity: 1 + (i % 4), priceCents: 1000 }],
    ...(i % 20 === 0 ? { errorCode: 'PAYMENT_DECLINED' } : {}),
  }));
}

/**
 * The order export on the job runtime (status record, a compare-and-swap checkpoint and one staged block per page,
 * one commit) against a minimal hand-written export of the same orders (page through the ledger, build the file in
 * memory, upload it once, upsert one status row), side by side on one Azurite, through a proxy that counts storage
 * operations. Both write the same bytes: that is checked too.
 */
export async function exportBench(context: BenchContext): Promise<BenchResult> {
  const proxy = await CountingProxy.start(portsOf(context.connectionString));
  try {
    const connection = proxy.connectionString;
    const prefix = `x${randomBytes(4).toString('hex')}`;
    const table = (name: string) =>
      TableClient.fromConnectionString(connection, `${prefix}${name}`, { allowInsecureConnection: true });
    const sales = new SalesFacts(table('sales'));
    const jobs = new JobStore(table('jobs'));
    const deadLetters = new DeadLetterStore(table('deadletters'));
    const statusRows = table('status');
    await Promise.all([sales.ensureTable(), jobs.ensureTable(), deadLetters.ensureTable(), statusRows.createTable()]);
    const container = BlobServiceClient.fromConnectionString(connection).getContainerClient(`${prefix}-exports`);
    await container.createIfNotExists();
    for (const day of DAYS) await sales.recordMany(day, facts(day));
    const orders = DAYS.length * ORDERS_PER_DAY;

    const runtime = new JobRuntime({ statuses: jobs, deadLetters });
    const job = defineExportJob({
      runtime,
      orders: ledgerOrderPages(sales),
      exports: container,
      queue: `${prefix}-exports`,
      downloadUrl: (id) => `/api/exports/${id}/file`,
    });

    const onRuntime = async () => {
      const id = JobStore.newJobId('exp');
      await runtime.create(job, { id, data: { from: FROM, to: TO, format: 'csv' } });
      proxy.reset();
      const started = performance.now();
      const outcome = await runtime.execute(job, id);
      const ms = performance.now() - started;
      if (outcome.outcome !== 'succeeded') throw new Error(`export ${outcome.outcome}`);
      const ops = { ...proxy.counts };
      const bytes = await container.getBlobClient(`${id}.csv`).downloadToBuffer();
      return { ms, ops, bytes, pages: outcome.job.result?.pages ?? 0 };
    };
    const byHand = async () => {
      const id = `hand_${randomBytes(8).toString('hex')}`;
      proxy.reset();
      const started = performance.now();
      const parts = [renderHeader('csv', { from: FROM, to: TO })];
      let written = 0;
      for (const day of DAYS) {
        let token: string | undefined;
        do {
          const page = await ledgerOrderPages(sales).page(day, token);
          parts.push(renderOrders('csv', page.orders, written));
          written += page.orders.length;
          token = page.continuationToken;
        } while (token);
      }
      parts.push(renderFooter('csv', written));
      const body = Buffer.from(parts.join(''));
      await container.getBlockBlobClient(`${id}.csv`).upload(body, body.length);
      await statusRows.upsertEntity({ partitionKey: id, rowKey: 'status', status: 'succeeded', orders: written });
      const ms = performance.now() - started;
      return { ms, ops: { ...proxy.counts }, bytes: body };
    };

    const runtimeRates: number[] = [];
    const handRates: number[] = [];
    let runtimeOps: Record<Service, number> = { blob: 0, queue: 0, table: 0 };
    let handOps: Record<Service, number> = { blob: 0, queue: 0, table: 0 };
    let pages = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? (['runtime', 'hand'] as const) : (['hand', 'runtime'] as const);
      let runtimeBytes: Buffer | undefined;
      let handBytes: Buffer | undefined;
      for (const which of order) {
        if (which === 'runtime') {
          const run = await onRuntime();
          runtimeRates.push(orders / (run.ms / 1000));
          runtimeOps = run.ops;
          runtimeBytes = run.bytes;
          pages = run.pages;
        } else {
          const run = await byHand();
          handRates.push(orders / (run.ms / 1000));
          handOps = run.ops;
          handBytes = run.bytes;
        }
      }
      if (!runtimeBytes || !handBytes || !runtimeBytes.equals(handBytes))
        throw new Error('the export and the hand-written file differ');
      context.log(
        `round ${r + 1}: runtime ${round(runtimeRates.at(-1) ?? 0)} orders/s, by hand ${round(handRates.at(-1) ?? 0)} orders/s`,
      );
    }
    const runtimeRate = median(runtimeRates);
    const handRate = median(handRates);
    const perPage = (ops: Record<Service, number>, service: Service) => round(ops[service] / pages);
    const markdown = [
      `${orders} orders over ${DAYS.length} days (${pages} ledger pages), CSV; ${ROUNDS} rounds alternating order; medians. Both files are byte-identical (checked).`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| order export on the job runtime (\`runtime.execute\`: status record, CAS checkpoint + staged block per page, one commit) | ${round(runtimeRate)} orders/s |`,
      `| minimal hand-written export (page the ledger, build in memory, one upload, one status upsert) | ${round(handRate)} orders/s |`,
      `| **ratio runtime / by hand** | **${round(runtimeRate / handRate)}** |`,
      `| storage operations, runtime: table / blob (per ledger page) | ${runtimeOps.table} / ${runtimeOps.blob} (${perPage(runtimeOps, 'table')} / ${perPage(runtimeOps, 'blob')}) |`,
      `| storage operations, by hand: table / blob | ${handOps.table} / ${handOps.blob} |`,
      '',
      'Per page the runtime export makes a ledger query, a staged block and an ETag-conditional checkpoint write (from the version it last wrote: no read). The next page is read while a page is staged and checkpointed. The hand-written export keeps the whole file in memory and has no checkpoint: a crash starts it over.',
      '',
      `Rounds: runtime ${runtimeRates.map((v) => round(v)).join(', ')}; by hand ${handRates.map((v) => round(v)).join(', ')} orders/s.`,
    ].join('\n');
    return { title: 'Order export: the job runtime against a hand-written export', markdown };
  } finally {
    await proxy.stop();
  }
}
