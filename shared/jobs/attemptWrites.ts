import type { RuntimeJobUpdate } from './jobRuntime';
import { isTerminal, type Job, type JobStatus } from './jobTypes';

/**
 * How long a job made by the attempt that runs it (`JobRuntime.execute` with `create`) may run unwritten, in
 * milliseconds. Most such jobs (a thumbnail) end well within it, and then the write of their end is the job's first:
 * one insert and its listing row, where a job written when it starts costs a third write, and table requests are what
 * a busy pipeline runs short of first. Until then nobody sees the job, no more than before its trigger's event
 * arrived, which whoever waits for a trigger-made job waits through anyway. A longer job is written, running and
 * listed, this long after it started: soon enough for someone watching.
 */
export const UNWRITTEN_GRACE_MS = 2_000;

/** One write of an attempt: what to change on the job as it stands. */
export type AttemptChange<Data, Result> = (current: Job<Data, Result>) => RuntimeJobUpdate<Data, Result> | undefined;

/** The runtime's typed read-change-write (`JobRuntime.update` with `basis`). */
export type AttemptWrite<Data, Result> = (
  change: AttemptChange<Data, Result>,
  basis: Job<Data, Result>,
) => Promise<Job<Data, Result>>;

/**
 * Every status write of one attempt, one at a time, each on the version the last one left (no read). An attempt that
 * made its job starts with a draft (`JobStatusPort.draft`): its first write inserts the job, whichever it is (a
 * progress report, the end, a failure, or the grace's write of the job as it stands). That first write can meet a
 * record another delivery of the same work wrote since the attempt started (a duplicate event run at the same time,
 * or, for a `rerunnable` job, which is not read first, any earlier delivery): this attempt then counts as that job's
 * next one (`attempt n started` is written with its change), or, when that job has ended, writes nothing and reports
 * `endedElsewhere`, as a redelivery that finds its job ended does. Writes are serialised so that only the first is
 * an insert: the identity test below holds only while the draft is the version written on.
 */
export class AttemptWrites<Data, Result> {
  readonly #write: AttemptWrite<Data, Result>;
  #latest: Job<Data, Result>;
  #draft: Job<Data, Result> | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #endedElsewhere = false;
  #wroteOntoEnd = false;
  readonly #start: RuntimeJobUpdate<Data, Result> | undefined;

  constructor(
    job: Job<Data, Result>,
    write: AttemptWrite<Data, Result>,
    options: {
      unwritten: boolean;
      graceMs: number;
      /** What the attempt's start wrote on the draft (data, progress): written too when it takes over a record. */
      start?: RuntimeJobUpdate<Data, Result>;
    },
  ) {
    this.#latest = job;
    this.#write = write;
    this.#start = options.start;
    if (!options.unwritten) return;
    this.#draft = job;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Best effort: the job's end (or a failure) writes it whatever happens here, and the attempt must not fail
      // for it.
      if (this.#draft) this.#enqueue(() => ({}), { onlyUnwritten: true }).catch(() => undefined);
    }, options.graceMs);
    // A pending write never keeps a process alive on its own.
    this.#timer.unref();
  }

  /** The job as this attempt last wrote it (or its draft, before the first write). */
  get latest(): Job<Data, Result> {
    return this.#latest;
  }

  /**
   * Whether a write found the job ended by someone else (another delivery's end, a cancellation), and so wrote
   * nothing: that end stands, and nothing of this attempt is written on top of it.
   */
  get endedElsewhere(): boolean {
    return this.#endedElsewhere;
  }

  /**
   * Whether the attempt's cancellation (`saveCancellation`) was written onto a cancellation someone else wrote: its
   * listing status changed nothing, so that write wrote no listing row, and the cancel's own may never have landed.
   */
  get wroteOntoEnd(): boolean {
    return this.#wroteOntoEnd;
  }

  /** Writes `change` after every write asked for before it. */
  save(change: AttemptChange<Data, Result>): Promise<Job<Data, Result>> {
    return this.#enqueue(change, { onlyUnwritten: false });
  }

  /**
   * Writes the attempt's own cancellation (`JobCancelledError`: its input went away, or it saw a cancellation) even
   * onto a job someone else cancelled meanwhile: how the run stopped ("cancelled after 120 orders, no file
   * committed") belongs to that cancellation. On any other end it writes nothing, as `save` does.
   */
  saveCancellation(change: AttemptChange<Data, Result>): Promise<Job<Data, Result>> {
    return this.#enqueue(change, { onlyUnwritten: false, alsoOnto: 'cancelled' });
  }

  /**
   * `onlyUnwritten` (the grace's write) writes nothing when an earlier write, under way when the grace was up (the
   * job's end, a progress report), has written the job by its turn: that write is all the grace wanted.
   */
  #enqueue(
    change: AttemptChange<Data, Result>,
    options: { onlyUnwritten: boolean; alsoOnto?: JobStatus },
  ): Promise<Job<Data, Result>> {
    const written = this.#chain.then(async () => {
      const draft = this.#draft;
      if (!draft && options.onlyUnwritten) return this.#latest;
      this.#latest = await this.#write(
        draft ? this.#firstWrite(draft, change) : this.#unlessEnded(change, options.alsoOnto),
        this.#latest,
      );
      this.#draft = undefined;
      return this.#latest;
    });
    this.#chain = written.catch(() => undefined);
    return written;
  }

  /** Cancels the grace and waits for every write under way: nothing of the attempt outlives it. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  /**
   * A write after the first, on the job as this attempt left it, or as a conflict's read found it: a job ended
   * meanwhile by someone else (this attempt writes no end before its last write) is left as it is. Without this, a
   * cancelled export's end would still write its download link, and a duplicate delivery's end a second end.
   */
  #unlessEnded(change: AttemptChange<Data, Result>, alsoOnto: JobStatus | undefined): AttemptChange<Data, Result> {
    return (current) => {
      if (!isTerminal(current.status)) return change(current);
      if (current.status === alsoOnto) {
        // The attempt's own account of that very end (an earlier write of it may have met the end and written
        // nothing, as a checkpoint that returns the job cancelled does): its outcome is that end, not another's.
        this.#endedElsewhere = false;
        this.#wroteOntoEnd = true;
        return change(current);
      }
      this.#endedElsewhere = true;
      return undefined;
    };
  }

  #firstWrite(draft: Job<Data, Result>, change: AttemptChange<Data, Result>): AttemptChange<Data, Result> {
    return (current) => {
      if (current === draft) return change(current);
      if (isTerminal(current.status)) {
        this.#endedElsewhere = true;
        return undefined;
      }
      // Another delivery's record, still active: this attempt becomes its next one, starting as it started the draft.
      const start = this.#start ?? {};
      const update = change(current) ?? {};
      const data = start.data || update.data ? { data: { ...start.data, ...update.data } } : {};
      return {
        ...(start.progress ? { progress: start.progress } : {}),
        status: 'running',
        ...update,
        ...data,
        attemptsIncrement: (update.attemptsIncrement ?? 0) + 1,
        events: [{ kind: 'started', message: `attempt ${current.attempts + 1} started` }, ...(update.events ?? [])],
      };
    };
  }
}
