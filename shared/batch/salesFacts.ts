import { createHash } from 'node:crypto';

import { odata, type TableClient } from '@azure/data-tables';

import type { Job } from '../jobs/jobTypes';
import { ensureTable, statusOf } from '../storage/tableErrors';

/** One finished order as the daily report counts it, kept in a shard of the UTC day it finished. */
export interface SalesFact {
  orderId: string;
  status: string;
  totalCents: number;
  lines: { sku: string; quantity: number; priceCents: number }[];
  errorCode?: string;
}

export const SALES_PAGE_SIZE = 1000;

/**
 * Partitions per UTC day. One partition takes about 2,000 entities/s (Azure's target), so a single day partition
 * would cap the whole shop at 2,000 finished orders/s and a nightly read of a busy day at 2,000 entities/s; sixteen
 * spread both well past what one storage account carries.
 */
export const SALES_SHARDS = 16;

export function utcDate(iso: string): string {
  return iso.slice(0, 10);
}

/** The shard of an order: a hash of its id, so a repeated write lands on the same row. */
export function salesPartition(date: string, orderId: string): string {
  const shard = createHash('sha256').update(orderId).digest().readUInt16BE(0) % SALES_SHARDS;
  return `${date}-s${shard.toString().padStart(2, '0')}`;
}

/**
 * The partitions a day's facts may be in, in reading order: the bare date first (where ledgers written before
 * sharding keep that day's rows), then each shard.
 */
export function salesPartitionsOf(date: string): string[] {
  return [date, ...Array.from({ length: SALES_SHARDS }, (_, i) => `${date}-s${i.toString().padStart(2, '0')}`)];
}

/**
 * Where a read of a day stands, per partition: `''` not started, a table continuation token, or `null` done. The
 * token handed out is `v2:` and this as JSON; a bare token (a checkpoint from before sharding) is the bare date's.
 */
type ReadState = (string | null)[];

function encodeState(state: ReadState): string {
  return `v2:${JSON.stringify(state)}`;
}

function decodeState(token: string | undefined, partitions: number): ReadState {
  const fresh: ReadState = Array.from({ length: partitions }, () => '');
  if (!token) return fresh;
  if (!token.startsWith('v2:')) return [token, ...fresh.slice(1)];
  const parsed = JSON.parse(token.slice(3)) as unknown;
  if (!Array.isArray(parsed) || parsed.length !== partitions) throw new Error('not a sales ledger read position');
  return parsed.map((entry) => (typeof entry === 'string' ? entry : null));
}

/**
 * The sales ledger the nightly report reads: written when an order reaches a terminal status (an upsert keyed by
 * order id, so a repeat changes nothing) into one of the day's shards, read from all the day's shards together in
 * pages (a merge: the report aggregates, so the order of facts across shards does not matter), never by scanning jobs.
 */
export class SalesFacts {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async record(job: Job): Promise<void> {
    if (!job.completedAt) return;
    const lines = Array.isArray(job.data['lines']) ? (job.data['lines'] as SalesFact['lines']) : [];
    await this.table.upsertEntity(
      {
        partitionKey: salesPartition(utcDate(job.completedAt), job.id),
        rowKey: job.id,
        status: job.status,
        totalCents: Number(job.data['totalCents'] ?? 0),
        lines: JSON.stringify(lines.map((l) => ({ sku: l.sku, quantity: l.quantity, priceCents: l.priceCents }))),
        errorCode: job.error?.code ?? '',
        completedAt: job.completedAt,
      },
      'Replace',
    );
  }

  /**
   * One page of a day's facts, read from every partition of the day in parallel (a slice of a page from each, so
   * a page is still about SALES_PAGE_SIZE facts and no partition is read faster than the rest); pass the returned
   * token to continue. The token is opaque: it holds where each partition stands, so a checkpointed run resumes
   * where it stopped.
   */
  async page(date: string, continuationToken?: string): Promise<{ facts: SalesFact[]; continuationToken?: string }> {
    const partitions = salesPartitionsOf(date);
    const state = decodeState(continuationToken, partitions.length);
    const slice = Math.ceil(SALES_PAGE_SIZE / partitions.length);
    const pages = await Promise.all(
      partitions.map(async (partition, i) => {
        const position = state[i];
        if (position === null || position === undefined) return [];
        const page = await this.#partitionPage(partition, position || undefined, slice);
        state[i] = page.token ?? null;
        return page.facts;
      }),
    );
    const facts = pages.flat();
    return state.every((position) => position === null) ? { facts } : { facts, continuationToken: encodeState(state) };
  }

  async #partitionPage(partitionKey: string, continuationToken: string | undefined, pageSize: number) {
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${partitionKey}` } })
      .byPage({ maxPageSize: pageSize, ...(continuationToken ? { continuationToken } : {}) });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (statusOf(error) === 404) return { facts: [] as SalesFact[] };
      throw error;
    }
    if (page.done) return { facts: [] as SalesFact[] };
    const facts: SalesFact[] = page.value.map((row) => {
      const errorCode = typeof row['errorCode'] === 'string' && row['errorCode'] ? row['errorCode'] : undefined;
      return {
        orderId: String(row.rowKey),
        status: typeof row['status'] === 'string' ? row['status'] : 'unknown',
        totalCents: Number(row['totalCents'] ?? 0),
        lines: JSON.parse(typeof row['lines'] === 'string' ? row['lines'] : '[]') as SalesFact['lines'],
        ...(errorCode ? { errorCode } : {}),
      };
    });
    const token = page.value.continuationToken;
    return { facts, ...(token ? { token } : {}) };
  }

  /** Writes many facts in entity-group batches of up to 100 per shard (benchmarks and tests seed volume this way). */
  async recordMany(date: string, facts: SalesFact[]): Promise<void> {
    const byPartition = new Map<string, SalesFact[]>();
    for (const fact of facts) {
      const partitionKey = salesPartition(date, fact.orderId);
      byPartition.set(partitionKey, [...(byPartition.get(partitionKey) ?? []), fact]);
    }
    for (const [partitionKey, shard] of byPartition) await this.#recordShard(date, partitionKey, shard);
  }

  async #recordShard(date: string, partitionKey: string, facts: SalesFact[]): Promise<void> {
    for (let i = 0; i < facts.length; i += 100) {
      await this.table.submitTransaction(
        facts.slice(i, i + 100).map((fact) => [
          'upsert',
          {
            partitionKey,
            rowKey: fact.orderId,
            status: fact.status,
            totalCents: fact.totalCents,
            lines: JSON.stringify(fact.lines),
            errorCode: fact.errorCode ?? '',
            completedAt: `${date}T12:00:00.000Z`,
          },
          'Replace',
        ]),
      );
    }
  }
}
