import { createHash } from 'node:crypto';

import { odata, type TableClient } from '@azure/data-tables';

import { statusOf } from '../storage/tableErrors';
import type { Job, JobStatus } from './jobTypes';

/**
 * The listing index: one row per job, written when the job is first written (created, or a draft inserted: see
 * attemptWrites.ts) and again only when its *listing status* changes (active ↔ a terminal status), never per
 * progress write. Rows live in partitions bucketed by the UTC day the job was created and sharded by a hash of its
 * id — `idx-{day, inverted}-{shard}` — so no partition takes every write (Azure's target is 2,000 entities/s per
 * partition): at any moment writes spread over `INDEX_SHARDS` partitions of the current day. Row keys sort newest first; a listing merges the shards of a day on read and
 * walks the days newest first.
 */
export const INDEX_SHARDS = 16;
const PREFIX = 'idx-';
/** Sorts after every index partition key. */
const PREFIX_END = 'idx.';
const NEWEST_FIRST_BASE = 9_999_999_999_999;
const DAY_BASE = 99_999_999;

/** What the index keeps of a job's status: active jobs are one bucket (their exact status changes too often). */
export type ListingStatus = 'active' | Extract<JobStatus, 'succeeded' | 'failed' | 'compensated' | 'cancelled'>;

export function listingStatusOf(status: JobStatus): ListingStatus {
  switch (status) {
    case 'queued':
    case 'running':
    case 'compensating':
      return 'active';
    case 'succeeded':
    case 'failed':
    case 'compensated':
    case 'cancelled':
      return status;
    default: {
      const never: never = status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}

/** The day as an inverted number, so newer days sort first: 2026-11-25 → 99999999 - 20261125. */
function invertedDay(iso: string): string {
  return String(DAY_BASE - Number(iso.slice(0, 10).replace(/-/g, ''))).padStart(8, '0');
}

function shardOf(id: string): string {
  const hash = createHash('sha256').update(id).digest();
  return String((hash[0] ?? 0) % INDEX_SHARDS).padStart(2, '0');
}

function partitionOf(day: string, shard: string): string {
  return `${PREFIX}${day}-${shard}`;
}

function rowKeyOf(job: Pick<Job, 'id' | 'createdAt'>): string {
  return `${(NEWEST_FIRST_BASE - Date.parse(job.createdAt)).toString().padStart(13, '0')}-${job.id}`;
}

export function indexKeyOf(job: Pick<Job, 'id' | 'createdAt'>): { partitionKey: string; rowKey: string } {
  return { partitionKey: partitionOf(invertedDay(job.createdAt), shardOf(job.id)), rowKey: rowKeyOf(job) };
}

export function indexRowOf(job: Job): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    ...indexKeyOf(job),
    jobId: job.id,
    type: job.type,
    status: listingStatusOf(job.status),
    createdAt: job.createdAt,
  };
}

/** One listing row as retention reads it: the job it names, and the row's own key. */
export interface IndexEntry {
  jobId: string;
  partitionKey: string;
  rowKey: string;
}

/** A listing position: the day being read and, per shard, the last row key handed out. */
interface Cursor {
  day: string;
  after: Record<string, string>;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(token: string): Cursor | undefined {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof value.day !== 'string' || !/^\d{8}$/.test(value.day)) return undefined;
    const after: Record<string, string> = {};
    for (const [shard, key] of Object.entries(value.after ?? {})) {
      if (/^\d{2}$/.test(shard) && typeof key === 'string') after[shard] = key;
    }
    return { day: value.day, after };
  } catch {
    return undefined;
  }
}

/** Whether `token` has the shape of a listing position this index issues (checked at the HTTP boundary). */
export function isJobListToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,2000}$/.test(token) && decodeCursor(token) !== undefined;
}

/** Thrown for a continuation token this index did not issue. */
export class InvalidContinuationTokenError extends Error {
  override readonly name = 'InvalidContinuationTokenError';
  readonly code = 'INVALID_CONTINUATION_TOKEN';
}

export interface IndexQuery {
  type?: string;
  /** Listing statuses to include; all when absent. */
  statuses?: readonly ListingStatus[];
}

function filterOf(query: IndexQuery): string {
  const parts: string[] = [];
  if (query.type) parts.push(odata`type eq ${query.type}`);
  if (query.statuses && query.statuses.length > 0) {
    parts.push(`(${query.statuses.map((status) => odata`status eq ${status}`).join(' or ')})`);
  }
  return parts.join(' and ');
}

function and(...parts: string[]): string {
  return parts.filter((part) => part.length > 0).join(' and ');
}

/** The sharded, day-bucketed listing index of the jobs table. */
export class JobIndex {
  constructor(private readonly table: TableClient) {}

  /** Writes the job's index row (create, or a listing-status change). */
  async write(job: Job): Promise<void> {
    await this.table.upsertEntity(indexRowOf(job), 'Replace');
  }

  /**
   * Makes the job's row say what the job says: the repair for a process that died between a job's write and its
   * row's (the job never listed, or listed as active after it ended), run by whoever meets that job again (a
   * redelivery that finds it ended, a create that finds it made). One read when the row is right. The job as the
   * caller read it may be older than the row (the writer of a change writes the job, then the row), so a row that
   * disagrees is checked against the job read again (`current`), and written only while unchanged since read (an
   * ETag, or an insert): a row written in between is the job's own writer's, and stands. Returns whether it wrote.
   */
  async ensure(
    job: Pick<Job, 'id' | 'createdAt' | 'status'>,
    current: () => Promise<Job | undefined>,
  ): Promise<boolean> {
    const key = indexKeyOf(job);
    let row: { status: unknown; etag: string } | undefined;
    try {
      const entity = await this.table.getEntity<Record<string, unknown>>(key.partitionKey, key.rowKey);
      row = { status: entity['status'], etag: entity.etag };
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    if (row?.status === listingStatusOf(job.status)) return false;
    const latest = await current();
    if (!latest || latest.createdAt !== job.createdAt || row?.status === listingStatusOf(latest.status)) return false;
    try {
      if (row) await this.table.updateEntity(indexRowOf(latest), 'Replace', { etag: row.etag });
      else await this.table.createEntity(indexRowOf(latest));
      return true;
    } catch (error) {
      // 404: the row went since read, deleted with its job (retention, a take-back); it stays gone.
      const status = statusOf(error);
      if (status === 409 || status === 412 || status === 404) return false;
      throw error;
    }
  }

  async remove(job: Pick<Job, 'id' | 'createdAt'>): Promise<boolean> {
    return this.removeEntry(indexKeyOf(job));
  }

  /**
   * Up to `limit` job ids, newest first, after the position in `continuationToken`. Each day's shards are read
   * in parallel and merged by row key; empty days are skipped with one query that finds the next day with a
   * matching row. No continuation token once the index is exhausted.
   */
  async page(
    query: IndexQuery,
    limit: number,
    continuationToken?: string,
  ): Promise<{ ids: string[]; continuationToken?: string }> {
    let cursor: Cursor | undefined;
    if (continuationToken) {
      cursor = decodeCursor(continuationToken);
      if (!cursor) throw new InvalidContinuationTokenError('the continuation token is not valid');
    } else {
      const day = await this.#nextDay(query, undefined);
      if (!day) return { ids: [] };
      cursor = { day, after: {} };
    }
    const ids: string[] = [];
    while (ids.length < limit) {
      const need = limit - ids.length;
      const { rows, exhausted } = await this.#readDay(query, cursor, need);
      for (const row of rows) {
        ids.push(row.jobId);
        cursor.after[row.shard] = row.rowKey;
      }
      if (!exhausted) break;
      const next = await this.#nextDay(query, cursor.day);
      if (!next) return { ids };
      cursor = { day: next, after: {} };
    }
    return { ids, continuationToken: encodeCursor(cursor) };
  }

  /** Reads one day's shards after the cursor, merged newest first; `exhausted` when the day has no more rows. */
  async #readDay(
    query: IndexQuery,
    cursor: Cursor,
    need: number,
  ): Promise<{ rows: { shard: string; rowKey: string; jobId: string }[]; exhausted: boolean }> {
    const shards = Array.from({ length: INDEX_SHARDS }, (_, i) => String(i).padStart(2, '0'));
    const perShard = await Promise.all(
      shards.map(async (shard) => {
        const after = cursor.after[shard];
        const filter = and(
          odata`PartitionKey eq ${partitionOf(cursor.day, shard)}`,
          after ? odata`RowKey gt ${after}` : '',
          filterOf(query),
        );
        const rows: { shard: string; rowKey: string; jobId: string }[] = [];
        try {
          for await (const row of this.table.listEntities<Record<string, unknown>>({
            queryOptions: { filter, select: ['RowKey', 'jobId'] },
          })) {
            rows.push({ shard, rowKey: String(row.rowKey), jobId: String(row['jobId']) });
            if (rows.length > need) break;
          }
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
        return rows;
      }),
    );
    const merged = perShard.flat().sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0));
    return { rows: merged.slice(0, need), exhausted: merged.length <= need };
  }

  /** The next day (older than `after`, or the newest when undefined) that has a matching row. */
  async #nextDay(query: IndexQuery, after: string | undefined): Promise<string | undefined> {
    const from = after ? `${PREFIX}${after}.` : PREFIX;
    const filter = and(odata`PartitionKey gt ${from} and PartitionKey lt ${PREFIX_END}`, filterOf(query));
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['PartitionKey'] },
      })) {
        return String(row.partitionKey).slice(PREFIX.length, PREFIX.length + 8);
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return undefined;
  }

  /**
   * Rows of jobs created before `cutoff`, at most `limit`, each with its own key (retention deletes them page by
   * page, each row by that key: see `JobStore.deleteListed`).
   */
  async entriesCreatedBefore(cutoff: Date, limit: number): Promise<IndexEntry[]> {
    const from = `${PREFIX}${invertedDay(cutoff.toISOString())}`;
    const filter = odata`PartitionKey ge ${from} and PartitionKey lt ${PREFIX_END} and createdAt lt ${cutoff.toISOString()}`;
    const entries: IndexEntry[] = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['PartitionKey', 'RowKey', 'jobId'] },
      })) {
        entries.push({
          jobId: String(row['jobId']),
          partitionKey: String(row.partitionKey),
          rowKey: String(row.rowKey),
        });
        if (entries.length >= limit) break;
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return entries;
  }

  /** Deletes one row by its key; false when it was gone already. */
  async removeEntry(entry: Pick<IndexEntry, 'partitionKey' | 'rowKey'>): Promise<boolean> {
    try {
      await this.table.deleteEntity(entry.partitionKey, entry.rowKey);
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }
}
