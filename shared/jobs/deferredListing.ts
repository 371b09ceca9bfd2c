import type { JobStatusPort } from './jobPorts';
import type { Job } from './jobTypes';

/**
 * How long a job made by the attempt that runs it (`JobRuntime.execute` with `create`) may run before it is listed,
 * in milliseconds. Most such jobs (a thumbnail) end well within it, and then the write of their end is the one that
 * lists them: one table write less per job, where table requests are what a busy pipeline runs short of first. A
 * longer job shows in the listing, as running, this long after it started: soon enough for someone watching.
 */
export const DEFERRED_LISTING_GRACE_MS = 2_000;

/**
 * The listing of one attempt's job, created unlisted (`deferListing`): after the grace the job is listed as it stands
 * (`ensureListed`, an insert: a row written meanwhile by the job's end stays). Call `settle` before writing the job's
 * end: it cancels the timer and waits for a grace write already under way, so that write never lands after the end
 * (and none is left running once the attempt is over).
 */
export class DeferredListing {
  readonly #statuses: Pick<JobStatusPort, 'ensureListed'>;
  #timer: NodeJS.Timeout | undefined;
  #write: Promise<void> | undefined;
  #listed = false;

  constructor(statuses: Pick<JobStatusPort, 'ensureListed'>, job: Job, graceMs: number) {
    this.#statuses = statuses;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#write = this.#list(job);
    }, graceMs);
    // A pending listing never keeps a process alive on its own.
    this.#timer.unref();
  }

  /** Cancels the grace, and waits for its write when it has started. */
  async settle(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#write;
  }

  /** Lists the job now unless the grace did: an attempt that ends with its job still active (waiting for a retry). */
  async listNow(job: Job): Promise<void> {
    await this.settle();
    if (!this.#listed) await this.#list(job);
  }

  async #list(job: Job): Promise<void> {
    try {
      await this.#statuses.ensureListed(job);
      this.#listed = true;
    } catch {
      // Best effort: the write of the job's end lists it whatever happens here, and the attempt must not fail for it.
    }
  }
}
