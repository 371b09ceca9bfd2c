import { randomBytes } from 'node:crypto';

import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';
import { applyJobUpdate, newJob } from './jobRules';
import {
  type CreateJobInput,
  type Job,
  JobConflictError,
  type JobEvent,
  JobNotFoundError,
  type JobProgress,
  type JobStatus,
  JobTooLargeError,
  type JobUpdate,
  type JobUpdateOptions,
} from './jobTypes';

const STATUS_ROW = 'status';
const EVENT_PREFIX = 'event-';
/** One string property of a table entity holds at most 64 KiB: 32 K UTF-16 characters. Keep a margin. */
const MAX_PROPERTY_CHARS = 30_000;
const NEWEST_FIRST_BASE = 9_999_999_999_999;
const DEFAULT_UPDATE_ATTEMPTS = 10;
const INDEX_ALL = 'idx-all';

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

function indexRowKey(createdAt: string, id: string): string {
  return `${(NEWEST_FIRST_BASE - Date.parse(createdAt)).toString().padStart(13, '0')}-${id}`;
}

function typePartition(type: string): string {
  return `idx-type-${type}`;
}

function statusPartition(status: JobStatus): string {
  return `idx-status-${status}`;
}

/** Unguessable: 128 random bits. */
function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export function isValidJobId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,100}$/.test(id);
}

function serialise(field: string, value: unknown): string {
  const text = JSON.stringify(value ?? null);
  if (text.length > MAX_PROPERTY_CHARS) {
    throw new JobTooLargeError(`job ${field} is ${text.length} characters of JSON; at most ${MAX_PROPERTY_CHARS} fit`);
  }
  return text;
}

function toEntity(job: Job): Entity {
  return {
    partitionKey: job.id,
    rowKey: STATUS_ROW,
    type: job.type,
    status: job.status,
    progress: serialise('progress', job.progress),
    attempts: job.attempts,
    error: job.error ? serialise('error', job.error) : '',
    result: job.result ? serialise('result', job.result) : '',
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    completedAt: job.completedAt ?? '',
    correlation: serialise('correlation', job.correlation),
    data: serialise('data', job.data),
  };
}

function parse<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string' || text === '') return fallback;
  return JSON.parse(text) as T;
}

function fromEntity(entity: Record<string, unknown>): Job {
  const error = parse<Job['error'] | null>(entity['error'], null);
  const result = parse<Job['result'] | null>(entity['result'], null);
  const completedAt =
    typeof entity['completedAt'] === 'string' && entity['completedAt'] ? entity['completedAt'] : undefined;
  return {
    id: String(entity['partitionKey']),
    type: String(entity['type']),
    status: String(entity['status']) as JobStatus,
    progress: parse<JobProgress>(entity['progress'], { step: 'queued', index: 0, total: 1, percent: 0 }),
    attempts: Number(entity['attempts'] ?? 0),
    ...(error ? { error } : {}),
    ...(result ? { result } : {}),
    createdAt: String(entity['createdAt']),
    updatedAt: String(entity['updatedAt']),
    ...(completedAt ? { completedAt } : {}),
    correlation: parse(entity['correlation'], {}),
    data: parse(entity['data'], {}),
  };
}

/** What the HTTP API shows of a job: everything but its private data and correlation. */
export function jobToPublic(job: Job): Omit<Job, 'data' | 'correlation'> {
  const { data: _data, correlation: _correlation, ...shown } = job;
  void _data;
  void _correlation;
  return shown;
}

/**
 * Job status records in Table Storage. One partition per job: the status entity (point read by id) and its events
 * (the timeline). Index partitions list recent jobs without scanning the table: `idx-all`, `idx-type-{type}` and
 * `idx-status-{status}`, row keys newest first. Every status write is ETag-conditional and retried on conflict.
 */
export class JobStore {
  #sequence = 0;
  readonly #versions = new WeakMap<Job, string>();

  constructor(private readonly table: TableClient) {}

  static newJobId(prefix = 'job'): string {
    return newId(prefix);
  }

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async create(input: CreateJobInput): Promise<{ job: Job; created: boolean }> {
    const job = newJob(input, input.createdAt ?? new Date().toISOString());
    let etag: string | undefined;
    try {
      etag = (await this.table.createEntity(toEntity(job))).etag;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const existing = await this.get(input.id);
      if (!existing) throw error;
      return { job: existing, created: false };
    }
    await this.#writeIndex(job, undefined);
    await this.appendEvent(job.id, { kind: 'created', message: input.event ?? `${job.type} job created` });
    return { job: this.#remember(job, etag), created: true };
  }

  async get(id: string): Promise<Job | undefined> {
    const entity = await this.#read(id);
    return entity ? this.#remember(fromEntity(entity), entity.etag) : undefined;
  }

  /** Keeps the version of a job object this store read or wrote, so `update({ basis })` can skip a read. */
  #remember(job: Job, etag: string | undefined): Job {
    if (etag) this.#versions.set(job, etag);
    return job;
  }

  async #read(id: string): Promise<TableEntityResult<Record<string, unknown>> | undefined> {
    try {
      return await this.table.getEntity<Record<string, unknown>>(id, STATUS_ROW);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Read, change, write with the read's ETag; on a conflict read again and re-apply `change`. `change` returning
   * undefined means there is nothing to write.
   */
  async update(id: string, change: (job: Job) => JobUpdate | undefined, options: JobUpdateOptions = {}): Promise<Job> {
    const attempts = options.maxAttempts ?? DEFAULT_UPDATE_ATTEMPTS;
    const basisVersion = options.basis ? this.#versions.get(options.basis) : undefined;
    let known: { job: Job; etag: string } | undefined =
      options.basis && basisVersion ? { job: options.basis, etag: basisVersion } : undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!known) {
        const entity = await this.#read(id);
        if (!entity) throw new JobNotFoundError(id);
        known = { job: fromEntity(entity), etag: entity.etag };
      }
      const current = known.job;
      const etag = known.etag;
      known = undefined;
      const update = change(current);
      if (!update) return this.#remember(current, etag);
      const next = applyJobUpdate(current, update, new Date().toISOString());
      let written;
      try {
        written = await this.table.updateEntity(toEntity(next), 'Replace', { etag });
      } catch (error) {
        if (statusOf(error) === 412) {
          // Another writer got there first: back off a little, with jitter, and re-apply on fresh state.
          if (attempt > 0 || !basisVersion) {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * (attempt + 1)));
          }
          continue;
        }
        throw error;
      }
      this.#remember(next, written.etag);
      if (next.status !== current.status) await this.#writeIndex(next, current.status);
      const event =
        update.event ??
        (next.status !== current.status
          ? { kind: 'status', message: `status ${current.status} → ${next.status}` }
          : undefined);
      if (event) await this.appendEvent(id, event);
      return next;
    }
    throw new JobConflictError(`job ${id}: gave up after ${attempts} conflicting updates`);
  }

  async appendEvent(
    id: string,
    event: { kind: string; message: string; data?: Record<string, unknown> },
  ): Promise<void> {
    const at = new Date();
    this.#sequence = (this.#sequence + 1) % 1_000_000;
    const rowKey = `${EVENT_PREFIX}${at.getTime().toString().padStart(15, '0')}-${this.#sequence
      .toString()
      .padStart(6, '0')}${randomBytes(3).toString('hex')}`;
    await this.table.createEntity({
      partitionKey: id,
      rowKey,
      at: at.toISOString(),
      kind: event.kind,
      message: event.message.slice(0, 4000),
      data: event.data ? serialise('event data', event.data) : '',
    });
  }

  async events(id: string, limit = 500): Promise<JobEvent[]> {
    const events: JobEvent[] = [];
    const rows = this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${id} and RowKey ge ${EVENT_PREFIX} and RowKey lt ${'event.'}` },
    });
    for await (const row of rows) {
      const data = parse<Record<string, unknown> | null>(row['data'], null);
      events.push({
        at: String(row['at']),
        kind: String(row['kind']),
        message: String(row['message']),
        ...(data ? { data } : {}),
      });
      if (events.length >= limit) break;
    }
    return events;
  }

  /** Recent jobs first, by type and/or status, paged with an opaque continuation token. */
  async list(query: { type?: string; status?: JobStatus; limit?: number; continuationToken?: string }): Promise<{
    jobs: Job[];
    continuationToken?: string;
  }> {
    const limit = Math.min(Math.max(query.limit ?? 20, 1), 100);
    let filter: string;
    if (query.type && query.status) {
      filter = odata`PartitionKey eq ${typePartition(query.type)} and status eq ${query.status}`;
    } else if (query.type) {
      filter = odata`PartitionKey eq ${typePartition(query.type)}`;
    } else if (query.status) {
      filter = odata`PartitionKey eq ${statusPartition(query.status)}`;
    } else {
      filter = odata`PartitionKey eq ${INDEX_ALL}`;
    }
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['jobId'] } })
      .byPage({
        maxPageSize: limit,
        ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
      });
    let page;
    try {
      page = await pages.next();
    } catch (error) {
      if (statusOf(error) === 404) return { jobs: [] };
      throw error;
    }
    if (page.done) return { jobs: [] };
    const found = await Promise.all(page.value.map((row) => this.get(String(row['jobId']))));
    // An index row can lag its job (index writes follow the status write): trust the job itself.
    const jobs = found.filter((job): job is Job => job !== undefined && (!query.status || job.status === query.status));
    const token = page.value.continuationToken;
    return { jobs, ...(token ? { continuationToken: token } : {}) };
  }

  /** Ids of jobs created before `cutoff`, oldest last, at most `limit` (retention deletes them page by page). */
  async idsCreatedBefore(cutoff: Date, limit: number): Promise<string[]> {
    const boundary = `${(NEWEST_FIRST_BASE - cutoff.getTime()).toString().padStart(13, '0')}-`;
    const pages = this.table
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${INDEX_ALL} and RowKey gt ${boundary}`, select: ['jobId'] },
      })
      .byPage({ maxPageSize: limit });
    try {
      const page = await pages.next();
      return page.done ? [] : page.value.map((row) => String(row['jobId']));
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw error;
    }
  }

  /** Deletes a job, its events and its index rows; returns how many entities went. */
  async delete(id: string): Promise<number> {
    const job = await this.get(id);
    let deleted = 0;
    let batch: Entity[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await this.table.submitTransaction(batch.map((entity) => ['delete', entity] as ['delete', Entity]));
      deleted += batch.length;
      batch = [];
    };
    for await (const row of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${id}`, select: ['RowKey'] },
    })) {
      batch.push({ partitionKey: id, rowKey: String(row.rowKey) });
      if (batch.length === 100) await flush();
    }
    await flush();
    if (job) {
      const rowKey = indexRowKey(job.createdAt, job.id);
      for (const partition of [INDEX_ALL, typePartition(job.type), statusPartition(job.status)]) {
        try {
          await this.table.deleteEntity(partition, rowKey);
          deleted++;
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      }
    }
    return deleted;
  }

  /** Index rows are best effort after the status write; a failure here is repaired by the next status change. */
  async #writeIndex(job: Job, previousStatus: JobStatus | undefined): Promise<void> {
    const rowKey = indexRowKey(job.createdAt, job.id);
    const row = { jobId: job.id, type: job.type, status: job.status, createdAt: job.createdAt };
    const writes: Promise<unknown>[] = [
      this.table.upsertEntity({ partitionKey: INDEX_ALL, rowKey, ...row }, 'Replace'),
      this.table.upsertEntity({ partitionKey: typePartition(job.type), rowKey, ...row }, 'Replace'),
      this.table.upsertEntity({ partitionKey: statusPartition(job.status), rowKey, ...row }, 'Replace'),
    ];
    if (previousStatus && previousStatus !== job.status) {
      writes.push(
        this.table.deleteEntity(statusPartition(previousStatus), rowKey).catch((error: unknown) => {
          if (statusOf(error) !== 404) throw error;
        }),
      );
    }
    await Promise.all(writes);
  }
}
