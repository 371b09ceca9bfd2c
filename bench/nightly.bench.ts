import { randomBytes } from 'node:crypto';

import { TableClient } from '@azure/data-tables';

import { aggregate, emptyAggregate, renderReportCsv, renderReportJson } from '../shared/batch/dailyReport';
import { type SalesFact, SalesFacts } from '../shared/batch/salesFacts';
import type { BenchContext, BenchResult } from './benchContext';
import { median, round } from './stats';

const PURGE_ENTITIES = 2000;
const REPORT_ORDERS = 10_000;
const ROUNDS = 3;

function table(context: BenchContext, prefix: string): TableClient {
  return TableClient.fromConnectionString(context.connectionString, `${prefix}${randomBytes(4).toString('hex')}`, {
    allowInsecureConnection: true,
  });
}

/** Entities in partitions of 100, as the retention purge meets job events. */
async function seed(client: TableClient, count: number): Promise<{ partitionKey: string; rowKey: string }[]> {
  await client.createTable();
  const keys: { partitionKey: string; rowKey: string }[] = [];
  for (let i = 0; i < count; i += 100) {
    const partitionKey = `job_${i / 100}`;
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) => ({
      partitionKey,
      rowKey: `event-${j.toString().padStart(4, '0')}`,
      message: 'x'.repeat(64),
    }));
    await client.submitTransaction(batch.map((entity) => ['create', entity]));
    keys.push(...batch.map(({ partitionKey: pk, rowKey }) => ({ partitionKey: pk, rowKey })));
  }
  return keys;
}

async function purgeBatched(client: TableClient, keys: { partitionKey: string; rowKey: string }[]): Promise<number> {
  const started = performance.now();
  const byPartition = new Map<string, { partitionKey: string; rowKey: string }[]>();
  for (const key of keys) byPartition.set(key.partitionKey, [...(byPartition.get(key.partitionKey) ?? []), key]);
  for (const rows of byPartition.values()) {
    for (let i = 0; i < rows.length; i += 100) {
      await client.submitTransaction(rows.slice(i, i + 100).map((row) => ['delete', row]));
    }
  }
  return keys.length / ((performance.now() - started) / 1000);
}

async function purgeOneByOne(client: TableClient, keys: { partitionKey: string; rowKey: string }[]): Promise<number> {
  const started = performance.now();
  for (const key of keys) await client.deleteEntity(key.partitionKey, key.rowKey);
  return keys.length / ((performance.now() - started) / 1000);
}

function facts(count: number): SalesFact[] {
  return Array.from({ length: count }, (_, i) => ({
    orderId: `ord_${i.toString().padStart(7, '0')}`,
    status: i % 20 === 0 ? 'compensated' : 'succeeded',
    totalCents: 1000 + (i % 13),
    lines: [{ sku: `SKU-${i % 25}`, quantity: 1 + (i % 4), priceCents: 1000 }],
    ...(i % 20 === 0 ? { errorCode: 'PAYMENT_DECLINED' } : {}),
  }));
}

/** The nightly batch's two costs: purging in entity-group batches vs one by one, and the report per 10,000 orders. */
export async function nightlyBench(context: BenchContext): Promise<BenchResult> {
  const batched: number[] = [];
  const single: number[] = [];
  for (let round_ = 0; round_ < ROUNDS; round_++) {
    // Side by side in each round, alternating which goes first.
    const a = table(context, 'purgea');
    const b = table(context, 'purgeb');
    const [keysA, keysB] = [await seed(a, PURGE_ENTITIES), await seed(b, PURGE_ENTITIES)];
    if (round_ % 2 === 0) {
      batched.push(await purgeBatched(a, keysA));
      single.push(await purgeOneByOne(b, keysB));
    } else {
      single.push(await purgeOneByOne(b, keysB));
      batched.push(await purgeBatched(a, keysA));
    }
    context.log(
      `purge round ${round_ + 1}: batched ${round(batched.at(-1) ?? 0)}/s, one by one ${round(single.at(-1) ?? 0)}/s`,
    );
  }

  const salesTable = table(context, 'sales');
  const sales = new SalesFacts(salesTable);
  await sales.ensureTable();
  const date = '2026-01-01';
  await sales.recordMany(date, facts(REPORT_ORDERS));
  const reportTimes: number[] = [];
  for (let round_ = 0; round_ < ROUNDS; round_++) {
    const started = performance.now();
    let report = emptyAggregate();
    let token: string | undefined;
    do {
      const page = await sales.page(date, token);
      report = aggregate(report, page.facts);
      token = page.continuationToken;
    } while (token);
    renderReportJson(date, report);
    renderReportCsv(date, report);
    reportTimes.push(performance.now() - started);
    if (report.orders !== REPORT_ORDERS)
      throw new Error(`report counted ${report.orders} orders, expected ${REPORT_ORDERS}`);
  }
  const batchedRate = median(batched);
  const singleRate = median(single);
  const markdown = [
    `${PURGE_ENTITIES} entities in partitions of 100, ${ROUNDS} rounds alternating order; ${REPORT_ORDERS} orders for the report; medians.`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| retention purge, entity-group batches of 100 | ${round(batchedRate)} entities/s |`,
    `| retention purge, one delete per entity | ${round(singleRate)} entities/s |`,
    `| **ratio batched / one by one** | **${round(batchedRate / singleRate)}** |`,
    `| daily report for ${REPORT_ORDERS} orders (page through the day's sales ledger, aggregate, render JSON + CSV) | ${round(median(reportTimes))} ms |`,
    '',
    `Rounds: batched ${batched.map((v) => round(v)).join(', ')}; one by one ${single.map((v) => round(v)).join(', ')} entities/s; report ${reportTimes.map((v) => round(v)).join(', ')} ms.`,
  ].join('\n');
  return { title: 'Nightly batch: retention purge and report generation', markdown };
}
