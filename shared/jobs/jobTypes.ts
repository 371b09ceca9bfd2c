export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'compensating' | 'compensated' | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'compensating',
  'compensated',
  'cancelled',
];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'compensated', 'cancelled']);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export interface JobProgress {
  step: string;
  index: number;
  total: number;
  percent: number;
  message?: string;
}

export interface JobError {
  code: string;
  message: string;
}

/** How the caller asked to hear back, besides polling. */
export interface JobCorrelation {
  replyTo?: string;
  callbackUrl?: string;
  idempotencyKey?: string;
  /** Proof of creation, returned only in the creating 202; needed to cancel without the admin key. */
  cancelToken?: string;
}

/**
 * A job's status record. `Data` is its private state (the validated request, a checkpoint) and `Result` what it
 * produced; both default to plain records for code that handles every type (the store, the HTTP API). The runtime
 * hands a job's `run` the typed form, validated once when read (`JobRuntime.read`).
 */
export interface Job<Data = Record<string, unknown>, Result = Record<string, unknown>> {
  id: string;
  type: string;
  status: JobStatus;
  progress: JobProgress;
  attempts: number;
  error?: JobError;
  result?: Result;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
  correlation: JobCorrelation;
  /** Job-specific private state (a workflow checkpoint, the validated request); never shown by the public API. */
  data: Data;
}

export interface JobEvent {
  at: string;
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}

/** A timeline entry to add; `at` defaults to the time of the write (set it for something that happened earlier). */
export interface NewJobEvent {
  kind: string;
  message: string;
  data?: Record<string, unknown>;
  at?: string;
}

/** What one update asks for; `change` functions return it (or undefined for "nothing to do"). */
export interface JobUpdate {
  status?: JobStatus;
  progress?: Partial<JobProgress>;
  /** `null` clears the error. */
  error?: JobError | null;
  result?: Record<string, unknown>;
  /** Shallow-merged into `data`. */
  data?: Record<string, unknown>;
  attemptsIncrement?: number;
  event?: NewJobEvent;
  /** More timeline entries, before `event` (a step's start and end written together). */
  events?: NewJobEvent[];
  /** Allows a terminal job to become active again (a dead-letter replay). */
  reopen?: boolean;
  /**
   * When a terminal `status` in this update was first reached (defaults to the time of the write): a job put back
   * after a replay that could not be sent keeps its original completion time.
   */
  completedAt?: string;
}

/** What creating a job record takes; everything but `id` and `type` has a default. */
export interface CreateJobInput {
  id: string;
  type: string;
  status?: JobStatus;
  progress?: JobProgress;
  data?: Record<string, unknown>;
  correlation?: JobCorrelation;
  /** The message of the `created` timeline entry. */
  event?: string;
  /** Entries after `created`, written with it (a job created already running records its start). */
  events?: NewJobEvent[];
  /** Attempts already under way: 1 for a job created by the attempt that runs it. */
  attempts?: number;
  /** Defaults to now; set by imports and tests that need old records. */
  createdAt?: string;
}

/** Options of one read-change-write. */
export interface JobUpdateOptions {
  /** Writes tried before giving up on ETag conflicts. */
  maxAttempts?: number;
  /**
   * The job as this caller last read or wrote it: its version is tried first, without reading again; a conflict
   * (someone wrote meanwhile) reads and re-applies `change` as usual.
   */
  basis?: Job;
}

/** Gave up after repeated ETag conflicts: too many writers on one job at once. */
export class JobConflictError extends Error {
  override readonly name = 'JobConflictError';
  readonly code = 'JOB_CONFLICT';
}

export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  readonly code = 'JOB_NOT_FOUND';
  constructor(readonly jobId: string) {
    super(`no job ${jobId}`);
  }
}

/** A job field too large for one Table Storage property. */
export class JobTooLargeError extends Error {
  override readonly name = 'JobTooLargeError';
  readonly code = 'JOB_TOO_LARGE';
}
