import { type DeadLetter, DeadLetterConflictError } from '../../shared/deadletters/deadLetterTypes';
import { type ListingStatus, listingStatusOf } from '../../shared/jobs/jobIndex';
import type {
  CreateJobOptions,
  DeadLetterPort,
  JobStatusPort,
  ListedJob,
  NewDeadLetter,
  RedeliveryPort,
} from '../../shared/jobs/jobPorts';
import { applyJobUpdate, newJob } from '../../shared/jobs/jobRules';
import type { CreateJobInput, Job, JobEvent, JobUpdate, JobUpdateOptions } from '../../shared/jobs/jobTypes';
import { JobNotFoundError } from '../../shared/jobs/jobTypes';

/**
 * In-memory fakes of the job runtime's ports, for unit tests of its rules. They apply the same pure rules as the
 * Table Storage stores (`applyJobUpdate`); the stores themselves are tested against Azurite.
 */
export class MemoryJobStatuses implements JobStatusPort {
  readonly jobs = new Map<string, Job>();
  readonly timeline = new Map<string, JobEvent[]>();
  /** Status entity writes. */
  writes = 0;
  /** The listing index as the store keeps it: one row per job, with its listing status. */
  readonly listing = new Map<string, ListingStatus>();
  /** Every index write as it landed, in order (`insert`: a draft's first write). */
  readonly indexWrites: { id: string; status: ListingStatus; by: 'create' | 'update' | 'insert' | 'repair' }[] = [];
  /** Listing rows read by `ensureListed`. */
  indexReads = 0;
  /** Runs before a draft's insert lands: a slow first write. */
  beforeInsert: ((job: Job) => Promise<void>) | undefined;
  readonly #drafts = new WeakMap<Job, readonly (Omit<JobEvent, 'at'> & { at?: string })[]>();
  /** Makes the next `n` writes fail as a storage outage would. */
  failNextWrites = 0;
  readonly #beforeWrites: { matches: (update: JobUpdate, job: Job) => boolean; run: () => Promise<void> }[] = [];

  /**
   * Runs `run` once, just before the first write whose update `matches` (another writer getting in between a
   * caller's read and its write); the change is then applied to the job as `run` left it, as an ETag-conditional
   * write retried on conflict applies it.
   */
  beforeWrite(matches: (update: JobUpdate, job: Job) => boolean, run: () => Promise<void>): void {
    this.#beforeWrites.push({ matches, run });
  }

  create(input: CreateJobInput, options: CreateJobOptions = {}): Promise<{ job: Job; created: boolean }> {
    const existing = this.jobs.get(input.id);
    if (existing) {
      if (options.ensureListed !== false) this.#ensureListed(existing);
      return Promise.resolve({ job: structuredClone(existing), created: false });
    }
    const job = newJob(input, input.createdAt ?? new Date().toISOString());
    this.jobs.set(job.id, job);
    for (const event of this.#createdEvents(input, job)) this.#event(job.id, event);
    this.writes++;
    this.#list(job, 'create');
    return Promise.resolve({ job: structuredClone(job), created: true });
  }

  draft(input: CreateJobInput): Job {
    const job = newJob(input, input.createdAt ?? new Date().toISOString());
    this.#drafts.set(job, this.#createdEvents(input, job));
    return job;
  }

  #createdEvents(input: CreateJobInput, job: Job): (Omit<JobEvent, 'at'> & { at?: string })[] {
    return [{ kind: 'created', message: input.event ?? `${job.type} job created` }, ...(input.events ?? [])];
  }

  ensureListed(job: ListedJob): Promise<boolean> {
    const current = this.jobs.get(job.id);
    return Promise.resolve(current ? this.#ensureListed(current) : false);
  }

  #ensureListed(job: Job): boolean {
    this.indexReads++;
    if (this.listing.get(job.id) === listingStatusOf(job.status)) return false;
    this.#list(job, 'repair');
    return true;
  }

  #list(job: Job, by: 'create' | 'update' | 'insert' | 'repair'): void {
    const status = listingStatusOf(job.status);
    this.listing.set(job.id, status);
    this.indexWrites.push({ id: job.id, status, by });
  }

  get(id: string): Promise<Job | undefined> {
    const job = this.jobs.get(id);
    return Promise.resolve(job ? structuredClone(job) : undefined);
  }

  async update(id: string, change: (job: Job) => JobUpdate | undefined, options: JobUpdateOptions = {}): Promise<Job> {
    const draft = options.basis;
    const draftEvents = draft ? this.#drafts.get(draft) : undefined;
    if (draft && draftEvents) {
      const inserted = await this.#insert(id, draft, draftEvents, change);
      if (inserted) return inserted;
    }
    const before = this.jobs.get(id);
    const intended = before ? change(structuredClone(before)) : undefined;
    const hook = intended && before ? this.#beforeWrites.findIndex((h) => h.matches(intended, before)) : -1;
    const [due] = hook >= 0 ? this.#beforeWrites.splice(hook, 1) : [];
    if (due) await due.run();
    return this.#write(id, change);
  }

  /**
   * A draft's first write: the draft itself goes to `change` and is inserted, unless a record with its id exists by
   * then (undefined: the caller re-applies `change` to that record, as the Table store does after a rejected insert).
   */
  async #insert(
    id: string,
    draft: Job,
    created: readonly (Omit<JobEvent, 'at'> & { at?: string })[],
    change: (job: Job) => JobUpdate | undefined,
  ): Promise<Job | undefined> {
    await this.beforeInsert?.(draft);
    if (this.jobs.has(id)) return undefined;
    const update = change(draft);
    // Nothing to write: the draft stays a draft, as in the Table store.
    if (!update) return draft;
    if (this.failNextWrites > 0) {
      this.failNextWrites--;
      throw Object.assign(new Error('storage unavailable'), { statusCode: 503 });
    }
    const next = applyJobUpdate(draft, update, new Date().toISOString());
    this.#drafts.delete(draft);
    this.jobs.set(id, next);
    this.writes++;
    this.#list(next, 'insert');
    const statusEvent =
      next.status !== draft.status ? { kind: 'status', message: `status ${draft.status} → ${next.status}` } : undefined;
    const last = update.event ?? statusEvent;
    for (const event of [...created, ...(update.events ?? []), ...(last ? [last] : [])]) this.#event(id, event);
    return structuredClone(next);
  }

  #write(id: string, change: (job: Job) => JobUpdate | undefined): Promise<Job> {
    const current = this.jobs.get(id);
    if (!current) return Promise.reject(new JobNotFoundError(id));
    const update = change(structuredClone(current));
    if (!update) return Promise.resolve(structuredClone(current));
    if (this.failNextWrites > 0) {
      this.failNextWrites--;
      return Promise.reject(Object.assign(new Error('storage unavailable'), { statusCode: 503 }));
    }
    const next = applyJobUpdate(current, update, new Date().toISOString());
    this.jobs.set(id, next);
    this.writes++;
    if (listingStatusOf(next.status) !== listingStatusOf(current.status)) this.#list(next, 'update');
    for (const event of update.events ?? []) this.#event(id, event);
    const event =
      update.event ??
      (next.status !== current.status
        ? { kind: 'status', message: `status ${current.status} → ${next.status}` }
        : undefined);
    if (event) this.#event(id, event);
    return Promise.resolve(structuredClone(next));
  }

  events(id: string): JobEvent[] {
    return this.timeline.get(id) ?? [];
  }

  #event(id: string, event: Omit<JobEvent, 'at'> & { at?: string }): void {
    const list = this.timeline.get(id) ?? [];
    list.push({ ...event, at: event.at ?? new Date().toISOString() });
    this.timeline.set(id, list);
  }
}

export class MemoryDeadLetters implements DeadLetterPort {
  readonly letters = new Map<string, DeadLetter>();

  record(letter: NewDeadLetter): Promise<{ deadLetter: DeadLetter; created: boolean }> {
    const existing = this.letters.get(letter.id);
    if (existing) return Promise.resolve({ deadLetter: structuredClone(existing), created: false });
    const full: DeadLetter = {
      ...letter,
      state: 'open',
      replays: 0,
      history: [{ at: letter.deadLetteredAt, action: 'recorded' }],
    };
    this.letters.set(letter.id, full);
    return Promise.resolve({ deadLetter: structuredClone(full), created: true });
  }

  get(id: string): Promise<DeadLetter | undefined> {
    const letter = this.letters.get(id);
    return Promise.resolve(letter ? structuredClone(letter) : undefined);
  }

  transition(id: string, to: 'replayed' | 'discarded', note?: string): Promise<DeadLetter | undefined> {
    const letter = this.letters.get(id);
    if (!letter) return Promise.resolve(undefined);
    if (letter.state !== 'open') {
      return Promise.reject(new DeadLetterConflictError(`dead letter ${id} is already ${letter.state}`));
    }
    const next: DeadLetter = {
      ...letter,
      state: to,
      replays: letter.replays + (to === 'replayed' ? 1 : 0),
      history: [...letter.history, { at: new Date().toISOString(), action: to, ...(note ? { note } : {}) }],
    };
    this.letters.set(id, next);
    return Promise.resolve(structuredClone(next));
  }

  replaySent(id: string): Promise<void> {
    const letter = this.letters.get(id);
    if (letter) {
      this.letters.set(id, {
        ...letter,
        history: [...letter.history, { at: new Date().toISOString(), action: 'replay-sent' }],
      });
    }
    return Promise.resolve();
  }

  reclaimReplay(id: string, markedAt: string): Promise<void> {
    const letter = this.letters.get(id);
    const last = letter?.history.at(-1);
    if (!letter || letter.state !== 'replayed' || last?.action !== 'replayed' || last.at !== markedAt) {
      return Promise.reject(new DeadLetterConflictError(`dead letter ${id} changed meanwhile`));
    }
    const entry = { at: new Date().toISOString(), action: 'replayed' as const, note: 'taken over' };
    this.letters.set(id, { ...letter, history: [...letter.history, entry] });
    return Promise.resolve();
  }

  replayFailed(id: string, reason: string): Promise<void> {
    const letter = this.letters.get(id);
    if (letter) {
      this.letters.set(id, {
        ...letter,
        state: 'open',
        history: [...letter.history, { at: new Date().toISOString(), action: 'replay-failed', note: reason }],
      });
    }
    return Promise.resolve();
  }
}

export class MemoryRedelivery implements RedeliveryPort {
  readonly redelivered: DeadLetter[] = [];
  /** When set, every redelivery fails with this error. */
  failWith: Error | undefined;
  /** Runs before a redelivery fails: what already happened when the error surfaced (a send whose answer was lost). */
  beforeFailing: ((letter: DeadLetter) => Promise<void>) | undefined;

  async redeliver(letter: DeadLetter): Promise<void> {
    if (this.failWith) {
      await this.beforeFailing?.(letter);
      throw this.failWith;
    }
    this.redelivered.push(letter);
  }
}
