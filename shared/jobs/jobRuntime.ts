import { deadLetterId } from '../deadletters/deadLetterIds';
import { type DeadLetter, DeadLetterConflictError, type DeadLetterSource } from '../deadletters/deadLetterTypes';
import { type AttemptChange, AttemptWrites, UNWRITTEN_GRACE_MS } from './attemptWrites';
import type { AnyJobDefinition, JobContext, JobDefinition, TypedJobUpdate } from './jobDefinition';
import {
  type ClassifiedFailure,
  classifyFailure,
  JobCancelledError,
  MALFORMED_JOB_DATA_CODE,
  MALFORMED_MESSAGE_CODE,
  PermanentJobError,
} from './jobErrors';
import type { CreateJobOptions, DeadLetterPort, JobStatusPort, ListedJob, RedeliveryPort } from './jobPorts';
import { INITIAL_PROGRESS } from './jobRules';
import {
  isTerminal,
  type Job,
  type JobCorrelation,
  type JobError,
  JobNotFoundError,
  type JobProgress,
  type JobStatus,
} from './jobTypes';

/** A typed write with the lifecycle fields only the runtime and workflows set. */
export interface RuntimeJobUpdate<Data, Result> extends TypedJobUpdate<Data, Result> {
  status?: JobStatus;
  /** Allows a terminal job to become active again (a replay, a forced re-run). */
  reopen?: boolean;
  attemptsIncrement?: number;
}

export type ExecuteOutcome<Data, Result> =
  | { outcome: 'unknown-job' }
  | { outcome: 'already-finished'; job: Job<Data, Result> }
  | { outcome: 'succeeded'; job: Job<Data, Result> }
  | { outcome: 'failed'; job: Job<Data, Result>; error: JobError }
  | { outcome: 'cancelled'; job: Job<Data, Result>; error: JobError };

export type CancelOutcome<Data, Result> =
  | { outcome: 'not-found' }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'requested'; job: Job<Data, Result> }
  | { outcome: 'cancelled'; job: Job<Data, Result> };

export type ReplayOutcome =
  | { outcome: 'not-found' }
  | { outcome: 'conflict'; message: string }
  | { outcome: 'failed'; sourceGone: boolean; reason: string }
  | { outcome: 'replayed'; deadLetter: DeadLetter };

/** What a poison-queue function knows about the message it received. */
export interface PoisonDelivery {
  poisonQueue: string;
  messageId: string;
  insertedAt: Date;
  /** The poisoned message's text as it was delivered (decoded). */
  text: string;
}

export interface JobRuntimeOptions {
  statuses: JobStatusPort;
  deadLetters: DeadLetterPort;
  /** Needed by `replay` only. */
  redelivery?: RedeliveryPort;
  /** The job types `replay` knows (for their `onReplay`); other types replay without a data change. */
  definitions?: readonly AnyJobDefinition[];
  /** Where the runtime reports what it handles itself but an operator should see (default: nowhere). */
  log?: JobRuntimeLog;
  /**
   * How long a job made by `execute`'s `create` may run unwritten, in milliseconds (default
   * {@link UNWRITTEN_GRACE_MS}); tests shorten it.
   */
  unwrittenGraceMs?: number;
}

/**
 * The runtime's log: an invocation's `context` fits it, as does `console`. Lines name job and dead-letter ids and an
 * error's code and first line, never message bodies, URLs or connection details.
 */
export interface JobRuntimeLog {
  warn(line: string): void;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The change that ends a job `succeeded` with `result` (merged into what it has), progress at 100 %. */
function completion<Data, Result>(
  result: Partial<Result>,
  extra: { message?: string; data?: Partial<Data> },
): AttemptChange<Data, Result> {
  const message = extra.message ?? 'done';
  return (current) => ({
    status: 'succeeded',
    error: null,
    result,
    ...(extra.data ? { data: extra.data } : {}),
    progress: { step: 'done', index: current.progress.total, percent: 100, message },
    event: { kind: 'succeeded', message },
  });
}

/**
 * The change that records a failed attempt: a permanent failure ends the job `failed` (sticky) unless `keepStatus`
 * (a workflow that compensates first); a transient one is noted on the job, which stays as it is for the retry.
 */
function attemptFailure<Data, Result>(
  failure: ClassifiedFailure,
  options: { label?: string; keepStatus?: boolean } = {},
): AttemptChange<Data, Result> {
  const label = options.label ? `${options.label}: ` : '';
  const { code, message } = failure.error;
  return () =>
    failure.permanent
      ? {
          ...(options.keepStatus ? {} : { status: 'failed' as const }),
          error: failure.error,
          event: { kind: options.keepStatus ? 'step-failed' : 'failed', message: `${label}${code}: ${message}` },
        }
      : {
          error: failure.error,
          event: { kind: options.label ? 'step-failed' : 'attempt-failed', message: `${label}${code}: ${message}` },
        };
}

/**
 * How long a replay may stay marked but not sent before a replay of the same dead letter takes it as lost with its
 * process: far longer than a replay request takes (a reopen and a send), so one still under way is not sent twice.
 */
export const LOST_REPLAY_AFTER_MS = 60_000;

/**
 * When the dead letter's latest replay was marked, if it was never noted sent (nor failed) and was marked more than
 * {@link LOST_REPLAY_AFTER_MS} before `now`; undefined otherwise.
 */
export function lostReplayClaim(letter: DeadLetter, now: number): { at: string; time: number } | undefined {
  const last = letter.history.at(-1);
  if (letter.state !== 'replayed' || last?.action !== 'replayed') return undefined;
  const time = Date.parse(last.at);
  return Number.isFinite(time) && now - time > LOST_REPLAY_AFTER_MS ? { at: last.at, time } : undefined;
}

/**
 * The job runtime: every job's status record, timeline, failure handling, dead letters, replay and cancel, done
 * one way. A job type is a {@link JobDefinition}; the runtime validates its stored data once per read and hands
 * `run` a `Job<Data, Result>`. Rules (unit-tested with in-memory ports): a terminal status sticks unless a replay
 * reopens the job; progress never moves back; a `PermanentJobError` fails the job at once and skips the retries,
 * anything else is recorded on the job and rethrown for the queue to retry until the poison queue takes it.
 */
export class JobRuntime {
  readonly #statuses: JobStatusPort;
  readonly #deadLetters: DeadLetterPort;
  readonly #redelivery: RedeliveryPort | undefined;
  readonly #definitions: Map<string, AnyJobDefinition>;
  readonly #options: JobRuntimeOptions;
  readonly #log: JobRuntimeLog | undefined;
  readonly #unwrittenGraceMs: number;

  constructor(options: JobRuntimeOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#statuses = options.statuses;
    this.#deadLetters = options.deadLetters;
    this.#redelivery = options.redelivery;
    this.#definitions = new Map((options.definitions ?? []).map((definition) => [definition.type, definition]));
    this.#unwrittenGraceMs = options.unwrittenGraceMs ?? UNWRITTEN_GRACE_MS;
  }

  /** The same runtime (same ports and definitions) reporting to `log`: an invocation's own `context`, say. */
  withLog(log: JobRuntimeLog): JobRuntime {
    return new JobRuntime({ ...this.#options, log });
  }

  /** Creates a job of this type once per id (data validated before it is stored). */
  async create<Data, Result>(
    definition: JobDefinition<Data, Result>,
    input: {
      id: string;
      data: Data;
      correlation?: JobCorrelation;
      progress?: JobProgress;
      /** The message of the `created` timeline entry. */
      event?: string;
    },
    /** See `JobStatusPort.create`. */
    options: CreateJobOptions = {},
  ): Promise<{ job: Job<Data, Result>; created: boolean }> {
    const data = definition.data.parse(input.data);
    const { job, created } = await this.#statuses.create(
      {
        id: input.id,
        type: definition.type,
        data: data as Record<string, unknown>,
        ...(input.correlation ? { correlation: input.correlation } : {}),
        ...(input.progress ? { progress: input.progress } : {}),
        ...(input.event ? { event: input.event } : {}),
      },
      options,
    );
    return { job: this.typed(definition, job), created };
  }

  /** The job of this type with its data validated, or undefined when there is none (or it is of another type). */
  async read<Data, Result>(
    definition: JobDefinition<Data, Result>,
    id: string,
  ): Promise<Job<Data, Result> | undefined> {
    const job = await this.#statuses.get(id);
    if (!job || job.type !== definition.type) return undefined;
    return this.typed(definition, job);
  }

  /** A job of any type with its data unvalidated: for access checks and dispatch before the type is known. */
  async readAny(id: string): Promise<Job | undefined> {
    return this.#statuses.get(id);
  }

  /**
   * Validates a stored job against its definition; throws a permanent `MALFORMED_JOB_DATA` failure when it does not
   * match (no retry can repair stored data).
   */
  typed<Data, Result>(definition: JobDefinition<Data, Result>, job: Job): Job<Data, Result> {
    const data = definition.data.safeParse(job.data);
    if (!data.success) {
      throw new PermanentJobError(
        MALFORMED_JOB_DATA_CODE,
        `job ${job.id}: stored data does not match the ${definition.type} schema: ${data.error.issues[0]?.message ?? ''}`,
      );
    }
    let result: Result | undefined;
    if (job.result !== undefined && definition.result) {
      const parsed = definition.result.safeParse(job.result);
      if (!parsed.success) {
        throw new PermanentJobError(
          MALFORMED_JOB_DATA_CODE,
          `job ${job.id}: stored result does not match the ${definition.type} schema`,
        );
      }
      result = parsed.data;
    }
    // The same object, typed in place: stores remember the version of the objects they hand out, so a typed job
    // passed back as `basis` still saves the read.
    const typed = job as unknown as Job<Data, Result>;
    typed.data = data.data;
    if (result !== undefined) typed.result = result;
    return typed;
  }

  /**
   * One typed read-change-write (ETag-conditional, retried on conflict). `change` sees the current job, validated;
   * `result` is merged into the current result. Pass `basis` (the job as last read or written) to skip the read.
   */
  async update<Data, Result>(
    definition: JobDefinition<Data, Result>,
    id: string,
    change: (current: Job<Data, Result>) => RuntimeJobUpdate<Data, Result> | undefined,
    /** The job as last read or written (typed or not): the write is tried on its version first. */
    basis?: Job<Data, Result> | Job,
  ): Promise<Job<Data, Result>> {
    const written = await this.#statuses.update(
      id,
      (raw) => {
        const current = this.typed(definition, raw);
        const update = change(current);
        if (!update) return undefined;
        const { data, result, ...rest } = update;
        return {
          ...rest,
          ...(data ? { data: data } : {}),
          ...(result ? { result: { ...(raw.result ?? {}), ...(result as Record<string, unknown>) } } : {}),
        };
      },
      basis ? { basis: basis as unknown as Job } : {},
    );
    return this.typed(definition, written);
  }

  /**
   * Records an error on a job whatever its data (a stored record that no longer parses), ending it `failed` when
   * `fail`. Returns undefined when there is no such job.
   */
  async recordError(id: string, error: JobError, options: { fail?: boolean } = {}): Promise<Job | undefined> {
    try {
      return await this.#statuses.update(id, () => ({
        error,
        ...(options.fail ? { status: 'failed' as const } : {}),
        event: { kind: options.fail ? 'failed' : 'error', message: `${error.code}: ${error.message}` },
      }));
    } catch (thrown) {
      if (thrown instanceof JobNotFoundError) return undefined;
      throw thrown;
    }
  }

  /** Ends a job `succeeded` with its result (merged into what it has), progress at 100 %. */
  async complete<Data, Result>(
    definition: JobDefinition<Data, Result>,
    job: Job<Data, Result>,
    result: Partial<Result>,
    extra: { message?: string; data?: Partial<Data> } = {},
  ): Promise<Job<Data, Result>> {
    return this.update(definition, job.id, completion(result, extra), job);
  }

  /**
   * Records a failed attempt on the job: a permanent failure ends it `failed` (sticky) unless `keepStatus` (a
   * workflow that compensates first); a transient one is noted on the job, which stays as it is for the retry.
   * Returns the classification; the caller rethrows transient failures so the queue retries.
   */
  async recordAttemptFailure<Data, Result>(
    definition: JobDefinition<Data, Result>,
    job: Job<Data, Result>,
    thrown: unknown,
    options: { label?: string; keepStatus?: boolean } = {},
  ): Promise<{ failure: ClassifiedFailure; job: Job<Data, Result> }> {
    const failure = classifyFailure(thrown);
    const updated = await this.update(definition, job.id, attemptFailure(failure, options), job);
    return { failure, job: updated };
  }

  /**
   * Runs one attempt of a one-shot job: marks it `running` (attempt counted, `start` merged into that write), calls
   * `run`, and ends it `succeeded` with the result. A `PermanentJobError` ends it `failed` and calls
   * `onPermanentFailure` (a `JobCancelledError` ends it `cancelled`: its input went away); anything else is recorded
   * and rethrown for the host to retry. A terminal job is not run again unless `reopen` (a replay).
   */
  async execute<Data, Result>(
    definition: JobDefinition<Data, Result>,
    id: string,
    options: {
      reopen?: boolean;
      start?: RuntimeJobUpdate<Data, Result>;
      describe?: (result: Result) => string;
      /** The job as the caller just read or created it: saves the read. */
      job?: Job;
      /**
       * Made by this attempt unless it exists (a job whose trigger is its only creator): the job starts as a draft,
       * already `running` with this attempt counted and `start`'s data, progress and event, and is written (and
       * listed) by the attempt's first write: its end, for a job that ends within {@link UNWRITTEN_GRACE_MS}, so it
       * costs two writes (the job and its listing row), not three. One that runs longer is written as it stands when
       * the grace is up. The job is read first, so a redelivery of a job that has ended does not run it again; a
       * `rerunnable` one (whose run, done again after it ended, changes nothing: a thumbnail rendered again from the
       * same bytes and written conditionally) skips that read, and its first write finds out instead (see
       * attemptWrites.ts).
       */
      create?: { data: Data; correlation?: JobCorrelation; event?: string; rerunnable?: boolean };
    } = {},
  ): Promise<ExecuteOutcome<Data, Result>> {
    const run = definition.run;
    if (!run) throw new TypeError(`job type ${definition.type} has no run function`);
    let raw = options.job && options.job.id === id ? options.job : undefined;
    if (!raw && options.create && options.create.rerunnable !== true) raw = await this.#statuses.get(id);
    const unwritten = !raw && options.create !== undefined;
    if (!raw && options.create) {
      const data = definition.data.parse({ ...options.create.data, ...options.start?.data });
      raw = this.#statuses.draft({
        id,
        type: definition.type,
        status: 'running',
        attempts: 1,
        data: data as Record<string, unknown>,
        ...(options.create.correlation ? { correlation: options.create.correlation } : {}),
        ...(options.start?.progress ? { progress: { ...INITIAL_PROGRESS, ...options.start.progress } } : {}),
        ...(options.create.event ? { event: options.create.event } : {}),
        events: [options.start?.event ?? { kind: 'started', message: 'attempt 1 started' }],
      });
    }
    raw ??= await this.#statuses.get(id);
    if (!raw || raw.type !== definition.type) return { outcome: 'unknown-job' };
    let job: Job<Data, Result>;
    try {
      job = this.typed(definition, raw);
    } catch (error) {
      const failure = classifyFailure(error);
      const failed = await this.#statuses.update(id, () => ({
        status: 'failed',
        error: failure.error,
        event: { kind: 'failed', message: `${failure.error.code}: ${failure.error.message}` },
      }));
      return { outcome: 'failed', job: failed as unknown as Job<Data, Result>, error: failure.error };
    }
    if (!unwritten) {
      if (isTerminal(job.status) && options.reopen !== true) return this.#alreadyFinished(job);
      // Ended since it was read (by another delivery, a cancel; the caller's read, `options.job`, may be older still):
      // that end stands, as it does for a job read ended, and nothing of this attempt is written on it or run.
      let endedMeanwhile = false;
      job = await this.update(
        definition,
        id,
        (current) => {
          endedMeanwhile = isTerminal(current.status) && options.reopen !== true;
          if (endedMeanwhile) return undefined;
          return {
            ...options.start,
            status: 'running',
            reopen: options.reopen === true && isTerminal(current.status),
            attemptsIncrement: 1,
            event: options.start?.event ?? { kind: 'started', message: `attempt ${current.attempts + 1} started` },
          };
        },
        job,
      );
      if (endedMeanwhile) return this.#alreadyFinished(job);
    }
    const writes = new AttemptWrites(job, (change, basis) => this.update(definition, id, change, basis), {
      unwritten,
      graceMs: this.#unwrittenGraceMs,
      ...(options.start ? { start: options.start } : {}),
    });
    try {
      return await this.#runAttempt(definition, job, run, options.describe, writes);
    } finally {
      await writes.close();
    }
  }

  /** Runs `run` on a job marked `running` for this attempt (or drafted so), and records how it ended. */
  async #runAttempt<Data, Result>(
    definition: JobDefinition<Data, Result>,
    job: Job<Data, Result>,
    run: NonNullable<JobDefinition<Data, Result>['run']>,
    describe: ((result: Result) => string) | undefined,
    writes: AttemptWrites<Data, Result>,
  ): Promise<ExecuteOutcome<Data, Result>> {
    const write = (update: RuntimeJobUpdate<Data, Result>) => writes.save(() => update);
    const context: JobContext<Data, Result> = {
      // As the attempt's writes leave the job: a draft that turns out to take over another delivery's record counts
      // as that record's next attempt from its first write on.
      get attempt() {
        return writes.latest.attempts;
      },
      progress: async (progress) => {
        await write({ progress });
      },
      checkpoint: (update) => write(update),
      event: async (kind, message, data) => {
        await write({ event: { kind, message, ...(data ? { data } : {}) } });
      },
    };
    // The job this attempt's first write found ended by another delivery: that end stands.
    const endedElsewhere = async (): Promise<ExecuteOutcome<Data, Result> | undefined> =>
      writes.endedElsewhere ? this.#alreadyFinished(writes.latest) : undefined;
    let result: Result;
    try {
      result = await run(job, context);
      if (definition.result) {
        const parsed = definition.result.safeParse(result);
        if (!parsed.success) {
          throw new PermanentJobError('RESULT_INVALID', `the ${definition.type} job returned an invalid result`, {
            cause: parsed.error,
          });
        }
        result = parsed.data;
      }
    } catch (error) {
      const failure = classifyFailure(error);
      if (!failure.permanent) {
        // Best effort: the retry matters more than the note, and the poison handler records the final failure.
        await writes.save(attemptFailure(failure)).catch(() => undefined);
        const ended = await endedElsewhere();
        if (ended) return ended;
        throw failure.cause;
      }
      if (failure.cause instanceof JobCancelledError) {
        const cancelled = await writes.saveCancellation(() => ({
          status: 'cancelled',
          error: failure.error,
          event: { kind: 'cancelled', message: failure.error.message },
        }));
        const ended = await endedElsewhere();
        if (ended) return ended;
        // Written onto a cancellation someone else wrote (a cancel while this ran): that write changed no listing
        // status, so it wrote no row, and the canceller may have died before writing its own.
        if (writes.wroteOntoEnd) await this.ensureListed(cancelled);
        return { outcome: 'cancelled', job: cancelled, error: failure.error };
      }
      const failed = await writes.save(attemptFailure(failure));
      const ended = await endedElsewhere();
      if (ended) return ended;
      await definition.onPermanentFailure?.(failed, failure.error);
      return { outcome: 'failed', job: failed, error: failure.error };
    }
    const done = await writes.save(completion(result, describe ? { message: describe(result) } : {}));
    return (await endedElsewhere()) ?? { outcome: 'succeeded', job: done };
  }

  /**
   * A delivery that found its job ended by another (a redelivery, a duplicate event): it leaves the job as it is, and
   * makes sure it is listed as it is, in case the process that ended it died before its listing row (no other write
   * would ever list it, and retention, which finds jobs by their rows, would never delete it).
   */
  async #alreadyFinished<Data, Result>(job: Job<Data, Result>): Promise<ExecuteOutcome<Data, Result>> {
    await this.ensureListed(job);
    return { outcome: 'already-finished', job };
  }

  /** Makes the listing say what `job` says (see `JobStatusPort.ensureListed`): for a caller that meets a job again. */
  async ensureListed(job: ListedJob): Promise<void> {
    await this.#statuses.ensureListed(job);
  }

  /**
   * Cancels a job by its definition's policy: refused when terminal, when the type has no policy, or when the policy
   * says so; otherwise the request is recorded (or the job ends `cancelled` at once) and `afterRequest` runs.
   */
  async cancel<Data, Result>(
    definition: JobDefinition<Data, Result>,
    id: string,
  ): Promise<CancelOutcome<Data, Result>> {
    const job = await this.#statuses.get(id);
    if (!job) return { outcome: 'not-found' };
    const policy = definition.cancel;
    if (job.type !== definition.type || !policy) {
      return { outcome: 'refused', reason: `${job.type} jobs cannot be cancelled` };
    }
    let refusal: string | undefined;
    const updated = await this.update(definition, id, (current) => {
      refusal = isTerminal(current.status)
        ? `the ${definition.type} is already ${current.status}`
        : policy.refusal?.(current);
      if (refusal) return undefined;
      if (!policy.request) {
        return {
          status: 'cancelled',
          error: { code: 'CANCELLED', message: 'cancelled by the caller' },
          event: { kind: 'cancelled', message: 'cancelled by the caller' },
        };
      }
      const data = policy.request(current);
      return data ? { data, event: { kind: 'cancel-requested', message: 'cancellation requested' } } : undefined;
    });
    if (refusal) return { outcome: 'refused', reason: refusal };
    await policy.afterRequest?.(updated);
    return updated.status === 'cancelled'
      ? { outcome: 'cancelled', job: updated }
      : { outcome: 'requested', job: updated };
  }

  /**
   * Records a poisoned message as a dead letter (body intact) and fails its job with the last error it recorded.
   * Safe to run twice for one delivery: the dead letter id derives from the poison message; `failed` sticks.
   */
  async recordPoison(
    delivery: PoisonDelivery,
    source: DeadLetterSource,
    jobId: string | undefined,
    dequeueCount: number,
    options: { failJob?: boolean } = {},
  ): Promise<DeadLetter> {
    let error: JobError = {
      code: 'POISONED',
      message: `the message failed ${dequeueCount} times and was moved to ${delivery.poisonQueue}`,
    };
    const job = jobId ? await this.#statuses.get(jobId) : undefined;
    if (job?.error)
      error = { code: job.error.code, message: `${job.error.message} (moved to ${delivery.poisonQueue})` };
    const { deadLetter } = await this.#deadLetters.record({
      id: deadLetterId(delivery.messageId, delivery.insertedAt, delivery.poisonQueue),
      source,
      body: delivery.text,
      dequeueCount,
      error,
      ...(job ? { jobId: job.id } : {}),
      deadLetteredAt: new Date().toISOString(),
    });
    if (job && options.failJob !== false) {
      let failedBefore = false;
      const failed = await this.#statuses.update(
        job.id,
        (current) => {
          failedBefore = current.status === 'failed';
          return failedBefore
            ? undefined
            : {
                status: 'failed',
                error,
                event: {
                  kind: 'dead-lettered',
                  message: `${error.code}: ${error.message}`,
                  data: { deadLetterId: deadLetter.id },
                },
              };
        },
        { basis: job },
      );
      // Failed already: this poison message again (its host died before completing it, maybe before the row).
      if (failedBefore) await this.ensureListed(failed);
    }
    return deadLetter;
  }

  /** A message that does not parse: no retry can fix it, so it is a dead letter at once (body intact). */
  async recordMalformed(
    delivery: { messageId: string; insertedAt: Date; queue: string; text: string; dequeueCount: number },
    reason: string,
  ): Promise<DeadLetter> {
    const { deadLetter } = await this.#deadLetters.record({
      id: deadLetterId(delivery.messageId, delivery.insertedAt, delivery.queue),
      source: { kind: 'queue', queue: delivery.queue },
      body: delivery.text,
      dequeueCount: delivery.dequeueCount,
      error: { code: MALFORMED_MESSAGE_CODE, message: reason },
      deadLetteredAt: new Date().toISOString(),
    });
    return deadLetter;
  }

  /** A permanent failure that is also a dead letter of its own (a thumbnail whose upload is not an image). */
  async recordFailureAsDeadLetter(letter: {
    job: Job<unknown, unknown>;
    source: DeadLetterSource;
    body: string;
    sourceName: string;
    key: string;
    error: JobError;
  }): Promise<DeadLetter> {
    const { deadLetter } = await this.#deadLetters.record({
      id: deadLetterId(letter.key, new Date(letter.job.createdAt), letter.sourceName),
      source: letter.source,
      body: letter.body,
      dequeueCount: letter.job.attempts,
      error: letter.error,
      jobId: letter.job.id,
      deadLetteredAt: new Date().toISOString(),
    });
    return deadLetter;
  }

  /**
   * Replays a dead letter: marks it replayed (once, even with two admins clicking), reopens its job as `queued`
   * (with its type's `onReplay` data change), puts the work back on its source, and notes in the dead letter's
   * history that it was sent. When the source cannot take it, the dead letter is reopened, the job is put back as it
   * was (see {@link JobRuntime.#undoReopen}) and the reason returned. A replay whose process died after marking it
   * and before sending it (see {@link lostReplayClaim}) is finished by the next replay of the same dead letter.
   */
  async replay(id: string, note = 'replayed'): Promise<ReplayOutcome> {
    if (!this.#redelivery) throw new TypeError('this runtime was built without a redelivery port');
    const found = await this.#deadLetters.get(id);
    if (!found) return { outcome: 'not-found' };
    const lost = found.state === 'replayed' ? lostReplayClaim(found, Date.now()) : undefined;
    if (lost) return this.#finishLostReplay(found, lost);
    let letter: DeadLetter | undefined;
    try {
      letter = await this.#deadLetters.transition(id, 'replayed', note);
    } catch (error) {
      if (error instanceof DeadLetterConflictError) return { outcome: 'conflict', message: error.message };
      throw error;
    }
    if (!letter) return { outcome: 'not-found' };
    return this.#sendReplay(letter, { reopen: letter.jobId !== undefined });
  }

  /**
   * A replay marked but never sent, its process dead: what it did not do is done now. Its job tells how far it got:
   * not written since the mark (the reopen never landed) is reopened and sent; still as the reopen left it (queued,
   * nothing run) is sent; anything else means its work arrived after all (only the note was lost), and is a conflict,
   * as a second replay of a sent one is.
   */
  async #finishLostReplay(letter: DeadLetter, mark: { at: string; time: number }): Promise<ReplayOutcome> {
    const conflict = { outcome: 'conflict', message: `dead letter ${letter.id} is already replayed` } as const;
    let reopen = false;
    if (letter.jobId) {
      const job = await this.#statuses.get(letter.jobId);
      if (!job) return conflict;
      reopen = Date.parse(job.updatedAt) < mark.time;
      const asReopened = job.status === 'queued' && job.progress.message === 'replayed';
      if (!reopen && !asReopened) return conflict;
    }
    try {
      // Marked again, on that stale mark's version: of two callers finishing it, one does.
      await this.#deadLetters.reclaimReplay(letter.id, mark.at);
    } catch (error) {
      if (error instanceof DeadLetterConflictError) return conflict;
      throw error;
    }
    return this.#sendReplay(letter, { reopen });
  }

  /** Reopens the dead letter's job (when asked), sends its work, and notes it sent; undoes both when it cannot. */
  async #sendReplay(letter: DeadLetter, options: { reopen: boolean }): Promise<ReplayOutcome> {
    const id = letter.id;
    let reopened: { before: Job; after: Job; dataKeys: string[] } | undefined;
    try {
      if (letter.jobId && options.reopen) {
        // What the reopen's last (written) application of `change` saw, copied before `typed` validates it in place.
        const seen: { before?: Job; dataKeys: string[] } = { dataKeys: [] };
        const after = await this.#statuses.update(letter.jobId, (job) => {
          seen.before = structuredClone(job);
          const definition = this.#definitions.get(job.type);
          const data = definition?.onReplay?.(this.typed(definition, job)) as Record<string, unknown> | undefined;
          seen.dataKeys = Object.keys(data ?? {});
          return {
            status: 'queued',
            reopen: true,
            error: null,
            ...(data ? { data } : {}),
            progress: { index: 0, percent: 0, step: 'queued', message: 'replayed' },
            event: { kind: 'replayed', message: `dead letter ${id} replayed`, data: { deadLetterId: id } },
          };
        });
        if (seen.before) reopened = { before: seen.before, after, dataKeys: seen.dataKeys };
      }
      await this.#redelivery?.redeliver(letter);
    } catch (error) {
      const reason = classifyFailure(error).error.message;
      await this.#deadLetters.replayFailed(id, reason);
      if (reopened) await this.#undoReopen(id, reopened, reason);
      return { outcome: 'failed', sourceGone: statusOf(error) === 404, reason };
    }
    // Best effort: sent is what matters; without the note a later replay finds the job past its reopen (a conflict).
    await this.#deadLetters.replaySent(id).catch((error: unknown) => {
      this.#log?.warn(`dead letter ${id}: replay sent, but not noted as sent: ${classifyFailure(error).error.message}`);
    });
    return { outcome: 'replayed', deadLetter: letter };
  }

  /**
   * Puts a job reopened by a replay that could not be sent back as it was before (status, error, progress, completion
   * time and the data `onReplay` changed), with a `replay-failed` timeline entry: nothing will run a `queued` job
   * whose message was never sent, and its pollers would wait for ever. Only when nothing has written the job since the
   * reopen: a redelivery that failed after all its work arrived (a lost response) may have started a run, and that
   * newer state must win, so it is only noted. Best effort: the dead letter is open again either way, and a storage
   * error here must not hide the replay's own failure from the caller; it is logged as a warning instead.
   */
  async #undoReopen(
    deadLetterId: string,
    reopened: { before: Job; after: Job; dataKeys: string[] },
    reason: string,
  ): Promise<void> {
    const { before, after, dataKeys } = reopened;
    const message = `replay of dead letter ${deadLetterId} failed: ${reason}`;
    try {
      await this.#statuses.update(
        before.id,
        (current) => {
          // The reopen's own write is the version held; anything written since (a run started, another replay, a
          // cancel) is newer and is left as it is, with a note.
          const untouched =
            current.updatedAt === after.updatedAt &&
            current.status === after.status &&
            current.attempts === after.attempts;
          if (!untouched) {
            return {
              event: {
                kind: 'replay-failed',
                message: `${message}; the job had changed since (now ${current.status}), so it was left as it is`,
                data: { deadLetterId },
              },
            };
          }
          return {
            status: before.status,
            error: before.error ?? null,
            progress: { ...before.progress, message: before.progress.message ?? before.progress.step },
            ...(before.completedAt ? { completedAt: before.completedAt } : {}),
            ...(dataKeys.length > 0
              ? { data: Object.fromEntries(dataKeys.map((key) => [key, before.data[key]])) }
              : {}),
            event: { kind: 'replay-failed', message, data: { deadLetterId } },
          };
        },
        { basis: after },
      );
    } catch (error) {
      // Best effort (see above): the job stays `queued` with its `replayed` entry; the open dead letter can be replayed.
      // An operator must hear of it, though: nothing will run that job until someone replays or cancels it.
      const { code, message: cause } = classifyFailure(error).error;
      this.#log?.warn(
        `job ${before.id} left queued: the put-back after the failed replay of dead letter ${deadLetterId} failed (${code}: ${cause})`,
      );
    }
  }
}
