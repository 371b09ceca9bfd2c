import type { DeadLetter } from '../deadletters/deadLetterTypes';
import type { CreateJobInput, Job, JobUpdate, JobUpdateOptions } from './jobTypes';

/** Options of `JobStatusPort.create`. */
export interface CreateJobOptions {
  /** Whether a create that finds the job made calls `ensureListed` on it (default true). */
  ensureListed?: boolean;
}

/** What the listing keeps of a job: enough to find its row and say what it should hold. */
export type ListedJob = Pick<Job, 'id' | 'createdAt' | 'status'>;

/**
 * The runtime's I/O, as small interfaces (graphile-worker hands its worker `getJob`/`completeJob`/`failJob`): the
 * Table Storage stores implement them in production, in-memory fakes in the unit tests.
 */

/** Job status records. Implemented by `JobStore`. */
export interface JobStatusPort {
  /**
   * Creates the record once per id; a second call returns the first record with `created: false`, after
   * `ensureListed` on it unless `options.ensureListed` is false (a caller whose later write lists the job, or that
   * calls `ensureListed` itself where it leaves the job as it is, so a create that meets the job costs no read more).
   */
  create(input: CreateJobInput, options?: CreateJobOptions): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job | undefined>;
  /**
   * Read, change, write with the read's ETag, re-applying `change` on a conflict; `change` returning undefined
   * writes nothing. The store's rules apply: progress never goes back, a terminal status sticks unless reopened.
   * With a draft as `options.basis`, the write inserts it (see `draft`).
   */
  update(id: string, change: (job: Job) => JobUpdate | undefined, options?: JobUpdateOptions): Promise<Job>;
  /**
   * A job as `create` would write it, not written: nothing is stored, or listed, until the first `update` with it as
   * `basis`, which inserts it (listing it too). When a record with its id exists by then (written by another delivery
   * of the same work), that update re-applies its `change` to the record instead: a `change` tells the two apart by
   * identity (it is handed the draft object itself, or the stored record).
   */
  draft(input: CreateJobInput): Job;
  /**
   * Makes the listing say what the job says: writes its row when it is missing, or lists the job under another
   * listing status (a process died between the job's write and its row's). Called by whoever meets a job again and
   * leaves it as it is (a redelivery finding it ended, a create finding it made); one read when the row is right.
   * Returns whether it wrote.
   */
  ensureListed(job: ListedJob): Promise<boolean>;
}

/** A dead letter as it is first recorded. */
export type NewDeadLetter = Omit<DeadLetter, 'state' | 'replays' | 'history'>;

/** Dead letters. Implemented by `DeadLetterStore`. */
export interface DeadLetterPort {
  /** Records once per id; a second call returns the first record. */
  record(letter: NewDeadLetter): Promise<{ deadLetter: DeadLetter; created: boolean }>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Moves an open dead letter on; throws `DeadLetterConflictError` when it is not open. */
  transition(id: string, to: 'replayed' | 'discarded', note?: string): Promise<DeadLetter | undefined>;
  /** Reopens a dead letter whose replay could not be sent. */
  replayFailed(id: string, reason: string): Promise<void>;
  /** Notes in its history that a replayed dead letter's work was sent (a replay marked and never sent was lost). */
  replaySent(id: string): Promise<void>;
  /**
   * Takes over a replay marked at `markedAt` and never sent (its process died): marks it again, now, only while that
   * mark is still the latest entry; throws `DeadLetterConflictError` when another caller got there first.
   */
  reclaimReplay(id: string, markedAt: string): Promise<void>;
}

/** Puts a dead letter's work back where it came from: re-sends a queue body, or retriggers a blob. */
export interface RedeliveryPort {
  redeliver(letter: DeadLetter): Promise<void>;
}
