import { odata, type TableClient } from '@azure/data-tables';

import type { Job } from '../jobs/jobTypes';
import { ensureTable, statusOf } from '../storage/tableErrors';

/** One finished order as the daily report counts it, kept in the partition of the UTC day it finished. */
export interface SalesFact {
  orderId: string;
  status: string;
  totalCents: number;
  lines: { sku: string; quantity: number; priceCents: number }[];
  errorCode?: string;
}

export const SALES_PAGE_SIZE = 1000;

export function utcDate(iso: string): string {
  return iso.slice(0, 10);
}

/**
 * The sales ledger the nightly report reads: written when an order reaches a terminal status (an upsert keyed by
 * order id, so a repeat changes nothing), read one day-partition at a time in pages, never by scanning jobs.
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
        partitionKey: utcDate(job.completedAt),
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

  /** One page of a day's facts, in order id order; pass the returned token to continue. */
  async page(date: string, continuationToken?: string): Promise<{ facts: SalesFact[]; continuationToken?: string }> {
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${date}` } })
      .byPage({ maxPageSize: SALES_PAGE_SIZE, ...(continuationToken ? { continuationToken } : {}) });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (statusOf(error) === 404) return { facts: [] };
      throw error;
    }
    if (page.done) return { facts: [] };
    const facts = page.value.map((row) => {
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
    return { facts, ...(token ? { continuationToken: token } : {}) };
  }

  /** Writes many facts in entity-group batches of up to 100 (benchmarks and tests seed volume this way). */
  async recordMany(date: string, facts: SalesFact[]): Promise<void> {
    for (let i = 0; i < facts.length; i += 100) {
      await this.table.submitTransaction(
        facts.slice(i, i + 100).map((fact) => [
          'upsert',
          {
            partitionKey: date,
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
