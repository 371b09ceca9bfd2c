import { createHash } from 'node:crypto';

import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';

import { isTerminal, type Job } from '../jobs/jobTypes';
import { ensureTable, statusOf } from '../storage/tableErrors';

/** One finished order as the daily report counts it, kept in a shard of the UTC day it (last) finished. */
export interface SalesFact {
  orderId: string;
  status: string;
  totalCents: number;
  lines: { sku: string; quantity: number; priceCents: number }[];
  errorCode?: string;
}

export const SALES_PAGE_SIZE = 1000;

/** Writes of one fact tried before giving up on ETag conflicts (only concurrent ends of one order conflict). */
const MAX_WRITE_ATTEMPTS = 10;

/**
 * The status of a row an order's later end (on a later day) superseded: kept, with that end's count, so a stale write
 * of the earlier end cannot come back; the day's reads leave it out.
 */
export const SUPERSEDED = 'superseded';

/**
 * A fact as stored: `reopens` is which end of the order it records (0 for its first); a superseded row names the day
 * of the end that superseded it.
 */
interface LedgerEntity {
  partitionKey: string;
  rowKey: string;
  status: string;
  totalCents: number;
  lines: string;
  errorCode: string;
  completedAt: string;
  reopens: number;
  supersededBy?: string;
}

/** The UTC days of an order's earlier ends, as its job data keeps them (anything else is ignored). */
function earlierEndDaysOf(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((day): day is string => typeof day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(day))
    : [];
}

/** Gave up writing a fact after repeated ETag conflicts: too many writers on one order's row at once. */
export class SalesLedgerConflictError extends Error {
  override readonly name = 'SalesLedgerConflictError';
  readonly code = 'SALES_LEDGER_CONFLICT';
}

/** Which end of its order a job or row stands for: a non-negative integer, 0 when not counted. */
function endOf(value: unknown): number {
  const end = Number(value ?? 0);
  return Number.isInteger(end) && end >= 0 ? end : 0;
}

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
 * Where a read of a day stands in one partition: past `after` (the last row key handed out), from the start
 * (nothing), `done`, or at `token`, the table's own continuation token: only for the bare day partition when a
 * checkpoint from before sharding is resumed (its rows are then handed out as read, outside the merge order).
 */
interface Cursor {
  after?: string;
  token?: string;
  done?: true;
}

/** The token handed out: `v2:` and the cursors as JSON. */
function encodeCursors(cursors: Cursor[]): string {
  return `v2:${JSON.stringify(cursors)}`;
}

function isCursor(value: unknown): value is Cursor {
  if (typeof value !== 'object' || value === null) return false;
  const { after, token, done } = value as Record<string, unknown>;
  return (
    (after === undefined || typeof after === 'string') &&
    (token === undefined || typeof token === 'string') &&
    (done === undefined || done === true)
  );
}

function decodeCursors(token: string | undefined, partitions: number): Cursor[] {
  const fresh: Cursor[] = Array.from({ length: partitions }, () => ({}));
  if (!token) return fresh;
  if (token.startsWith('v2:')) {
    const parsed = JSON.parse(token.slice(3)) as unknown;
    if (Array.isArray(parsed) && parsed.length === partitions && parsed.every(isCursor)) return parsed;
    throw new Error('not a sales ledger read position');
  }
  // A checkpoint from before sharding: the table's own token within the bare day partition; shards from the start.
  return [{ token }, ...fresh.slice(1)];
}

/** A slice of one partition: its facts in row key order, whether there may be more, the table's token. */
interface PartitionRead {
  facts: SalesFact[];
  more: boolean;
  token?: string;
}

function byOrderId(a: SalesFact, b: SalesFact): number {
  return a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0;
}

/**
 * The sales ledger the nightly report and the export read: written when an order reaches a terminal status (keyed by
 * order id, ordered by the order's ends, so a repeat or a stale write changes nothing) into one of the day's shards,
 * read from all the day's shards together in pages merged in order id order, never by scanning jobs.
 */
export class SalesFacts {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  /**
   * Records an ended order under its own status (only `succeeded` counts as revenue; the report counts the others by
   * reason), keyed by the order id in a shard fixed by the order id and the day it ended. An order not ended (or
   * reopened to be undone, which clears its completion time) records nothing.
   *
   * Ordered by the order's ends, not by arrival: the row carries which end it records (`reopens`, bumped by each write
   * that reopens the order), and a write never replaces a row of a later end. A stale message (one that read the order
   * ended `failed`, then stalled while a late step reopened it and it ended `compensated`) therefore leaves the later
   * fact standing; a repeat of the same end (a redelivered message after a crash) writes nothing.
   *
   * One fact per order, under the day of its latest end: the day its final outcome was reached. A replay is a new run
   * with new effects (fresh idempotency keys), so its charge is made, and its revenue counted, on the day it runs, not
   * on the day of the run that failed; a late step undone after midnight changes the outcome on the day it does. The
   * rows of the order's earlier end days (`data.earlierEndDays`, added by each reopen) are superseded first: replaced
   * by a `superseded` row of this end, which the day's reads leave out. They are kept rather than deleted so that a
   * stale write of an earlier end finds a row of a later end there and leaves it, where a deleted row would be written
   * back. So a report of an earlier day run (or rerun) after the move no longer counts the order; one written before
   * it stays as written (it counted the outcome known that night, and reports are not rewritten), and the later day's
   * report counts the final outcome. Superseding before writing the new fact means a report read in between misses
   * the order rather than counting it twice; a crash in between is repaired by the redelivered message, as any crash
   * after the ending write.
   *
   * Storage: the normal path is one insert (the first fact of the order, as the upsert before it was). Only a row
   * already there costs more: a read, and a replace conditional on the ETag read when the row is of an earlier end (a
   * conflict reads again). A reopened order that ends on another day pays the same again per earlier day.
   */
  async record(job: Job): Promise<void> {
    if (!job.completedAt || !isTerminal(job.status)) return;
    const day = utcDate(job.completedAt);
    const reopens = endOf(job.data['reopens']);
    for (const earlier of earlierEndDaysOf(job.data['earlierEndDays'])) {
      if (earlier === day) continue; // the row this end replaces itself
      await this.#writeUnlessLater({
        partitionKey: salesPartition(earlier, job.id),
        rowKey: job.id,
        status: SUPERSEDED,
        totalCents: 0,
        lines: '[]',
        errorCode: '',
        completedAt: job.completedAt,
        reopens,
        supersededBy: day,
      });
    }
    const lines = Array.isArray(job.data['lines']) ? (job.data['lines'] as SalesFact['lines']) : [];
    await this.#writeUnlessLater({
      partitionKey: salesPartition(day, job.id),
      rowKey: job.id,
      status: job.status,
      totalCents: Number(job.data['totalCents'] ?? 0),
      lines: JSON.stringify(lines.map((l) => ({ sku: l.sku, quantity: l.quantity, priceCents: l.priceCents }))),
      errorCode: job.error?.code ?? '',
      completedAt: job.completedAt,
      reopens,
    });
  }

  /**
   * Inserts a row, or replaces the one there if it records an earlier end of the order (ETag-conditional, so a
   * concurrent writer is not overwritten unseen); a row of the same or a later end stands.
   */
  async #writeUnlessLater(entity: LedgerEntity): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      try {
        await this.table.createEntity(entity);
        return;
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
      }
      let existing: TableEntityResult<Record<string, unknown>>;
      try {
        existing = await this.table.getEntity<Record<string, unknown>>(entity.partitionKey, entity.rowKey);
      } catch (error) {
        if (statusOf(error) === 404) continue; // gone meanwhile: insert again
        throw error;
      }
      // Rows written before ends were counted carry none: any counted end replaces them once.
      const stored = existing['reopens'] === undefined ? -1 : endOf(existing['reopens']);
      if (stored >= entity.reopens) return;
      try {
        await this.table.updateEntity(entity, 'Replace', { etag: existing.etag });
        return;
      } catch (error) {
        const status = statusOf(error);
        if (status !== 412 && status !== 404) throw error; // another writer got there first: look again
      }
    }
    throw new SalesLedgerConflictError(`sales fact of ${entity.rowKey}: gave up after ${MAX_WRITE_ATTEMPTS} conflicts`);
  }

  /**
   * One page of a day's facts in order id order, merged from every partition of the day (read in parallel, a slice
   * of a page from each): the facts handed out are those up to the smallest last row key among the slices that may
   * have more, so the merge stays in order across pages; the rest are read again next time. Pass the returned token
   * to continue: it holds where each partition stands, so a checkpointed run resumes where it stopped.
   */
  async page(date: string, continuationToken?: string): Promise<{ facts: SalesFact[]; continuationToken?: string }> {
    const partitions = salesPartitionsOf(date);
    const cursors = decodeCursors(continuationToken, partitions.length);
    const slice = Math.ceil(SALES_PAGE_SIZE / partitions.length);
    const reads = await Promise.all(
      partitions.map((partition, i) => {
        const cursor = cursors[i] ?? {};
        return cursor.done
          ? Promise.resolve<PartitionRead>({ facts: [], more: false })
          : this.#partitionPage(partition, cursor, slice);
      }),
    );
    let bound: string | undefined;
    reads.forEach((read, i) => {
      const last = read.facts.at(-1)?.orderId;
      if (cursors[i]?.token !== undefined) return; // outside the merge
      if (read.more && last !== undefined && (bound === undefined || last < bound)) bound = last;
    });
    const limit = bound;
    const facts: SalesFact[] = [];
    reads.forEach((read, i) => {
      const cursor = cursors[i] ?? {};
      if (cursor.done) return;
      if (cursor.token !== undefined) {
        facts.push(...read.facts);
        cursors[i] = read.token ? { token: read.token } : { done: true };
        return;
      }
      const handed = limit === undefined ? read.facts : read.facts.filter((fact) => fact.orderId <= limit);
      facts.push(...handed);
      const last = handed.at(-1)?.orderId;
      if (!read.more && handed.length === read.facts.length) cursors[i] = { done: true };
      else if (last !== undefined) cursors[i] = { after: last };
    });
    // Rows superseded by a later end of their order on a later day are passed over (the cursors moved past them).
    const live = facts.filter((fact) => fact.status !== SUPERSEDED).sort(byOrderId);
    return cursors.every((cursor) => cursor.done)
      ? { facts: live }
      : { facts: live, continuationToken: encodeCursors(cursors) };
  }

  /** Up to `top` facts of one partition past the cursor, in row key order, and whether there may be more. */
  async #partitionPage(partitionKey: string, cursor: Cursor, top: number): Promise<PartitionRead> {
    const filter =
      cursor.after !== undefined
        ? odata`PartitionKey eq ${partitionKey} and RowKey gt ${cursor.after}`
        : odata`PartitionKey eq ${partitionKey}`;
    const pages = this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({
      maxPageSize: top,
      ...(cursor.token !== undefined ? { continuationToken: cursor.token } : {}),
    });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (statusOf(error) === 404) return { facts: [], more: false };
      throw error;
    }
    if (page.done) return { facts: [], more: false };
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
    // A short page with a continuation token (the service may stop early) may have more too.
    const token = page.value.continuationToken;
    return { facts, more: facts.length >= top || token !== undefined, ...(token ? { token } : {}) };
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
