import type { z } from 'zod';

import type { Job, JobError, JobProgress, NewJobEvent } from './jobTypes';

/** What one typed write to a job asks for; the runtime turns it into the store's untyped `JobUpdate`. */
export interface TypedJobUpdate<Data, Result> {
  /** Shallow-merged into the job's data. */
  data?: Partial<Data>;
  /** Progress never moves back (the store keeps the larger index and percent). */
  progress?: Partial<JobProgress>;
  /** Shallow-merged into the job's result (a workflow collects its result step by step). */
  result?: Partial<Result>;
  event?: NewJobEvent;
  /** More timeline entries, before `event`. */
  events?: NewJobEvent[];
  /** `null` clears the error. */
  error?: JobError | null;
}

/** What a job's `run` can do besides returning its result. Every call is one status write. */
export interface JobContext<Data, Result> {
  /**
   * The delivery this is (1 on the first), from the job's attempt counter. For a job its trigger makes
   * (`execute` with `create`, not read first), it is 1 until the attempt's first write, which may find another
   * delivery's record and count this attempt as that record's next.
   */
  readonly attempt: number;
  /** Reports progress; monotonic: a report behind the current one changes nothing. */
  progress(progress: Partial<JobProgress>): Promise<void>;
  /** Saves a checkpoint (data), with progress and a timeline entry, in one write; returns the job as written. */
  checkpoint(update: TypedJobUpdate<Data, Result>): Promise<Job<Data, Result>>;
  /** Adds a timeline entry. */
  event(kind: string, message: string, data?: Record<string, unknown>): Promise<void>;
}

/** Who may cancel a job and what a cancellation does. Without a policy a job cannot be cancelled. */
export interface CancelPolicy<Data, Result> {
  /** Why this job cannot be cancelled now (e.g. "the order has shipped"), or undefined when it can. */
  refusal?(job: Job<Data, Result>): string | undefined;
  /**
   * The data change that records the request, or undefined when it is recorded already. Without this function
   * the job ends `cancelled` at once.
   */
  request?(job: Job<Data, Result>): Partial<Data> | undefined;
  /** After the request is recorded (or found recorded): start undoing, e.g. send a compensation message. */
  afterRequest?(job: Job<Data, Result>): Promise<void>;
}

/**
 * A typed job definition (graphile-worker's task list, BullMQ's `Job<Data, Result>`): the `type` stored on the
 * status record, the schema its data is validated with once when read, and what to do. The runtime
 * (`JobRuntime`) creates and updates the status record, keeps the timeline, classifies failures, dead-letters,
 * replays and cancels.
 */
export interface JobDefinition<Data, Result> {
  readonly type: string;
  /** The job's private data; validated whenever a job of this type is read. */
  readonly data: z.ZodType<Data>;
  /** The job's result; validated when read and when `run` returns. */
  readonly result?: z.ZodType<Result>;
  /**
   * One attempt of a one-shot job (`JobRuntime.execute`): return the result, throw `PermanentJobError` to fail for
   * good, throw anything else to be retried. Jobs driven by several messages (the order workflow) leave it out and
   * move through `JobRuntime.read`/`update`/`complete`/`recordAttemptFailure`.
   */
  readonly run?: (job: Job<Data, Result>, context: JobContext<Data, Result>) => Promise<Result>;
  /** After a permanent failure is recorded on the job: e.g. record a dead letter, or start a compensation. */
  readonly onPermanentFailure?: (job: Job<Data, Result>, error: JobError) => Promise<void>;
  /** The data change a dead-letter replay makes before the job runs again (an order restarts from its first step). */
  readonly onReplay?: (job: Job<Data, Result>) => Partial<Data>;
  readonly cancel?: CancelPolicy<Data, Result>;
}

/** Any definition, for registries that hold several types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobDefinition = JobDefinition<any, any>;

/** Declares a job type; the identity function, there for inference (`defineJob<Data, Result>({ ... })`). */
export function defineJob<Data, Result>(definition: JobDefinition<Data, Result>): JobDefinition<Data, Result> {
  return definition;
}
