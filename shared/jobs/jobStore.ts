import { randomBytes } from 'node:crypto';

import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';
import { type IndexEntry, indexKeyOf, JobIndex, type ListingStatus, listingStatusOf } from './jobIndex';
import type { CreateJobOptions, ListedJob } from './jobPorts';
import { applyJobUpdate, newJob } from './jobRules';
import { appendToTimeline, parseTimeline, SPILL_END, SPILL_PREFIX, spillRowKey, timelineEntry } from './jobTimeline';
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
  type NewJobEvent,
} from './jobTypes';

const STATUS_ROW = 'status';
/** One string property of a table entity holds at most 64 KiB: 32 K UTF-16 characters. Keep a margin. */
const MAX_PROPERTY_CHARS = 30_000;
const DEFAULT_UPDATE_ATTEMPTS = 10;
/** Table Storage's limit of actions in one entity-group transaction. */
const MAX_BATCH = 100;

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/**
 * What the store knows of a job object it read, wrote or drafted: the entity's version (none for a draft, not written
 * yet) and the timeline inside it.
 */
interface Version {
  etag: string | undefined;
  timeline: JobEvent[];
  spilled: number;
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

function toEntity(job: Job, timeline: readonly JobEvent[], spilled: number): Entity {
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
    timeline: serialise('timeline', timeline),
    timelineSpilled: spilled,
    // This write's own mark: a retry that meets the entity tells its own write from another writer's by it alone
    // (two increments from one version, stamped in one millisecond, are otherwise the same entity).
    writeId: randomBytes(12).toString('base64url'),
  };
}

/** Whether a stored status entity is `written`, the entity this store just sent: its write id is this write's. */
function holdsThisWrite(stored: Record<string, unknown>, written: Entity): boolean {
  return stored['writeId'] === written['writeId'];
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
 * Job status records in Table Storage. One partition per job: the status entity (point read by id) carries the
 * job's timeline inside it (spilling old entries to entities in the same partition only for long lives), so a
 * status change with its timeline entry is one write. The listing index (`JobIndex`: day-bucketed, sharded
 * partitions) changes only when a job is written for the first time (created, or a draft inserted) and when its
 * listing status changes. Every write is ETag-conditional (a draft's an insert) and retried on conflict; a caller that
 * holds the job as last read or written (`basis`) skips the read.
 */
export class JobStore {
  readonly #versions = new WeakMap<Job, Version>();
  readonly #index: JobIndex;

  constructor(private readonly table: TableClient) {
    this.#index = new JobIndex(table);
  }

  static newJobId(prefix = 'job'): string {
    return newId(prefix);
  }

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async create(input: CreateJobInput, options: CreateJobOptions = {}): Promise<{ job: Job; created: boolean }> {
    const { job, timeline } = this.#newJob(input);
    const entity = toEntity(job, timeline, 0);
    let etag: string | undefined;
    try {
      etag = (await this.table.createEntity(entity)).etag;
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const found = await this.#read(input.id);
      if (!found) throw error;
      // This very insert, whose response was lost (the SDK's retry met it): created here, and still to be listed.
      if (holdsThisWrite(found, entity)) etag = found.etag;
      else {
        // Made before: by a caller asking again, maybe because the process that made it died before its row.
        const existing = this.#fromEntity(found);
        if (options.ensureListed !== false) await this.ensureListed(existing);
        return { job: existing, created: false };
      }
    }
    // After the status entity: an index row never points at a job that does not exist.
    await this.#listInserted(job, etag);
    return { job: this.#remember(job, etag, timeline, 0), created: true };
  }

  /**
   * Writes the listing row of a job just inserted. When that fails, the insert is taken back (deleted while
   * unchanged) before the error is thrown: nothing else would ever list the job, since a later write lists it only
   * when its listing status changes, and a retry that meets the record takes it for another delivery's (its insert
   * is refused, so it counts a second attempt, or leaves an ended job as it is). Taken back, the job is simply not
   * written yet: the caller's next write, or the retry, inserts and lists it. Best effort: a failed take-back (the
   * same outage) leaves the job unlisted, as a host that dies between the two writes does, until the retry meets
   * the job and `ensureListed` writes its row.
   */
  async #listInserted(job: Job, etag: string | undefined): Promise<void> {
    try {
      await this.#index.write(job);
    } catch (error) {
      // Only the version inserted: one another writer has changed since (another delivery taking it over) is theirs,
      // and their end lists it.
      if (etag) {
        const takenBack = await this.table.deleteEntity(job.id, STATUS_ROW, { etag }).then(
          () => true,
          () => false,
        );
        // A caller that met the job meanwhile (a create asked again, a delivery finding it ended) may have written its
        // row (`ensureListed`): a row of a job that no longer exists would list nothing and wait for retention. Its
        // key is this insert's own (id and creation time).
        if (takenBack) await this.#index.remove(job).catch(() => undefined);
      }
      throw error;
    }
  }

  /**
   * Writes the listing row of a job whose listing status just changed (its end, a reopen). When that fails, the job is
   * put back as it was (`previous`, while unchanged since this write) before the error is thrown: the row would
   * otherwise keep the old listing status for good (a job listed as active after it ended), since the retry of the
   * write meets a job whose listing status no longer changes. Put back, the retry (the caller's, or the redelivery's
   * run) writes the change and the row again. Best effort, as for an insert (see #listInserted).
   */
  async #listChanged(job: Job, etag: string | undefined, previous: Entity): Promise<void> {
    try {
      await this.#index.write(job);
    } catch (error) {
      if (etag) await this.table.updateEntity(previous, 'Replace', { etag }).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Writes the job's listing row when it is missing or lists the job under another listing status (see
   * `JobIndex.ensure`): one read when it is right. Returns whether it wrote.
   */
  ensureListed(job: ListedJob): Promise<boolean> {
    return this.#index.ensure(job, () => this.get(job.id));
  }

  /** A job as `create` would write it, not written (see `JobStatusPort.draft`): no I/O. */
  draft(input: CreateJobInput): Job {
    const { job, timeline } = this.#newJob(input);
    this.#versions.set(job, { etag: undefined, timeline, spilled: 0 });
    return job;
  }

  #newJob(input: CreateJobInput): { job: Job; timeline: JobEvent[] } {
    const now = input.createdAt ?? new Date().toISOString();
    const job = newJob(input, now);
    const timeline = [
      timelineEntry({ kind: 'created', message: input.event ?? `${job.type} job created` }, now),
      ...(input.events ?? []).map((event) => timelineEntry(event, now)),
    ];
    return { job, timeline };
  }

  async get(id: string): Promise<Job | undefined> {
    const entity = await this.#read(id);
    return entity ? this.#fromEntity(entity) : undefined;
  }

  #fromEntity(entity: TableEntityResult<Record<string, unknown>>): Job {
    return this.#remember(
      fromEntity(entity),
      entity.etag,
      parseTimeline(entity['timeline']),
      Number(entity['timelineSpilled'] ?? 0),
    );
  }

  /** Keeps the version of a job object this store read or wrote, so `update({ basis })` can skip a read. */
  #remember(job: Job, etag: string | undefined, timeline: JobEvent[], spilled: number): Job {
    if (etag) this.#versions.set(job, { etag, timeline, spilled });
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
   * undefined means there is nothing to write. With a draft as `basis`, `change` sees the draft and the write inserts
   * it; when a record with its id exists by then, `change` is re-applied to that record instead.
   */
  async update(id: string, change: (job: Job) => JobUpdate | undefined, options: JobUpdateOptions = {}): Promise<Job> {
    const attempts = options.maxAttempts ?? DEFAULT_UPDATE_ATTEMPTS;
    let current: Job | undefined = options.basis && this.#versions.has(options.basis) ? options.basis : undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!current) {
        const entity = await this.#read(id);
        if (!entity) throw new JobNotFoundError(id);
        current = this.#fromEntity(entity);
      }
      const version = this.#versions.get(current);
      if (!version) throw new Error(`job ${id}: no version for the job being updated`);
      const update = change(current);
      if (!update) return current;
      const now = new Date().toISOString();
      const next = applyJobUpdate(current, update, now);
      const statusEvent =
        next.status !== current.status
          ? { kind: 'status', message: `status ${current.status} → ${next.status}` }
          : undefined;
      const added = [...(update.events ?? []), ...(update.event ? [update.event] : statusEvent ? [statusEvent] : [])];
      const { embedded, spill } = appendToTimeline(
        version.timeline,
        added.map((event) => timelineEntry(event, now)),
      );
      const spilled = version.spilled + (spill ? 1 : 0);
      const entity = toEntity(next, embedded, spilled);
      const inserting = version.etag === undefined;
      let etag: string | undefined;
      try {
        if (inserting && !spill) {
          etag = (await this.table.createEntity(entity)).etag;
        } else if (spill) {
          const actions: TransactionAction[] = [
            version.etag === undefined ? ['create', entity] : ['update', entity, 'Replace', { etag: version.etag }],
            [
              'upsert',
              { partitionKey: id, rowKey: spillRowKey(version.spilled), events: serialise('timeline', spill) },
              'Replace',
            ],
          ];
          const response = await this.table.submitTransaction(actions);
          etag = response.subResponses.find((sub) => sub.rowKey === STATUS_ROW)?.etag;
        } else {
          etag = (await this.table.updateEntity(entity, 'Replace', { etag: version.etag })).etag;
        }
      } catch (error) {
        if (statusOf(error) === 412 || ((spill || inserting) && statusOf(error) === 409)) {
          // Read here (the retry needs it anyway): a write that landed and lost its response, retried by the SDK, is
          // refused by the entity it wrote itself.
          const found = await this.#read(id);
          if (found && holdsThisWrite(found, entity)) {
            // Taking it for another writer's would apply the change twice (an attempt counted twice), or, for a
            // draft's end, find the job ended 'elsewhere' and write nothing and list nothing.
            etag = found.etag;
          } else {
            // Another writer got there first: re-apply on fresh state; back off (with jitter) from the second try. An
            // insert refused by a record gone since (taken back, see #listInserted) is tried again as it was.
            if (!found && !inserting) throw new JobNotFoundError(id);
            current = found ? this.#fromEntity(found) : current;
            if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
            continue;
          }
        } else {
          throw error;
        }
      }
      const written = this.#remember(next, etag, embedded, spilled);
      if (inserting) await this.#listInserted(written, etag);
      else if (listingStatusOf(next.status) !== listingStatusOf(current.status)) {
        await this.#listChanged(written, etag, toEntity(current, version.timeline, version.spilled));
      }
      return written;
    }
    throw new JobConflictError(`job ${id}: gave up after ${attempts} conflicting updates`);
  }

  /** Adds a timeline entry (one status write). */
  async appendEvent(id: string, event: NewJobEvent): Promise<void> {
    await this.update(id, () => ({ event }));
  }

  /** The job's timeline, oldest first: spilled chunks (only for long lives), then the entries inside the job. */
  async events(id: string, limit = 500): Promise<JobEvent[]> {
    const entity = await this.#read(id);
    if (!entity) return [];
    const events: JobEvent[] = [];
    if (Number(entity['timelineSpilled'] ?? 0) > 0) {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: odata`PartitionKey eq ${id} and RowKey ge ${SPILL_PREFIX} and RowKey lt ${SPILL_END}`,
        },
      })) {
        events.push(...parseTimeline(row['events']));
        if (events.length >= limit) return events.slice(0, limit);
      }
    }
    events.push(...parseTimeline(entity['timeline']));
    return events.slice(0, limit);
  }

  /**
   * Recent jobs first, by type and/or status, paged with an opaque continuation token (`InvalidContinuationToken`
   * for one this store did not issue). `statuses` lists several at once (the supervisor's jobs in flight).
   */
  async list(query: {
    type?: string;
    status?: JobStatus;
    statuses?: readonly JobStatus[];
    limit?: number;
    continuationToken?: string;
  }): Promise<{ jobs: Job[]; continuationToken?: string }> {
    const limit = Math.min(Math.max(query.limit ?? 20, 1), 100);
    const wanted = query.status ? [query.status] : query.statuses && query.statuses.length > 0 ? query.statuses : [];
    const listing = [...new Set(wanted.map(listingStatusOf))] as ListingStatus[];
    const jobs: Job[] = [];
    let token = query.continuationToken;
    do {
      const page = await this.#index.page(
        { ...(query.type ? { type: query.type } : {}), ...(listing.length > 0 ? { statuses: listing } : {}) },
        limit - jobs.length,
        token,
      );
      const found = await Promise.all(page.ids.map((id) => this.get(id)));
      // The index keeps active jobs in one bucket, and a row can lag its job: the job itself decides.
      jobs.push(
        ...found.filter(
          (job): job is Job =>
            job !== undefined &&
            (wanted.length === 0 || wanted.includes(job.status)) &&
            (!query.type || job.type === query.type),
        ),
      );
      token = page.continuationToken;
    } while (token && jobs.length < limit);
    return { jobs, ...(token ? { continuationToken: token } : {}) };
  }

  /** Listing rows of jobs created before `cutoff`, at most `limit` (retention deletes them page by page). */
  async listedBefore(cutoff: Date, limit: number): Promise<IndexEntry[]> {
    return this.#index.entriesCreatedBefore(cutoff, limit);
  }

  /** Deletes a job, its spilled timeline and its index row; returns how many entities went. */
  async delete(id: string): Promise<number> {
    const job = await this.get(id);
    const deleted = await this.#deletePartition(id);
    return deleted + (job && (await this.#index.remove(job)) ? 1 : 0);
  }

  /**
   * Deletes the job a listing row names, then that row by its own key, last: a purge that dies in between leaves
   * the row for the next to find, and a row whose job is gone already (that purge, or a row written for a job
   * deleted since) goes too. Deleting by the job's own key alone would leave such a row to every later purge,
   * which would find it, delete nothing, and find it again.
   */
  async deleteListed(entry: IndexEntry): Promise<number> {
    const job = await this.get(entry.jobId);
    let deleted = await this.#deletePartition(entry.jobId);
    if (job) {
      const own = indexKeyOf(job);
      if (own.partitionKey !== entry.partitionKey || own.rowKey !== entry.rowKey) {
        if (await this.#index.remove(job)) deleted++;
      }
    }
    if (await this.#index.removeEntry(entry)) deleted++;
    return deleted;
  }

  /** Deletes every entity of a job's partition (its status entity and spilled timeline), in batches. */
  async #deletePartition(id: string): Promise<number> {
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
      if (batch.length === MAX_BATCH) await flush();
    }
    await flush();
    return deleted;
  }
}
