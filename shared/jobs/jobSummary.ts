import type { Job, JobStatus } from './jobTypes';

/** The listing this summary reads through: recent jobs first, paged (the job store's `list`). */
export type ListRecentJobs = (query: {
  limit: number;
  continuationToken?: string;
}) => Promise<{ jobs: Job[]; continuationToken?: string }>;

export interface JobSummaryOptions {
  now: Date;
  /** Jobs created this long ago at most are counted, in hours. */
  windowHours: number;
  /** Minutes of per-minute throughput, newest last. */
  throughputMinutes: number;
  /** Stop reading after this many jobs and say the counts are a lower bound. */
  maxJobs: number;
}

export const DEFAULT_SUMMARY_OPTIONS: Omit<JobSummaryOptions, 'now'> = {
  windowHours: 24,
  throughputMinutes: 60,
  maxJobs: 1_000,
};

export interface ThroughputMinute {
  /** Start of the minute, ISO 8601. */
  minute: string;
  succeeded: number;
  failed: number;
}

export interface JobSummary {
  generatedAt: string;
  /** Jobs created since then are counted. */
  since: string;
  windowHours: number;
  scanned: number;
  /** True when more jobs were created in the window than `maxJobs`: the counts are then a lower bound. */
  truncated: boolean;
  /** Jobs per type and status. */
  counts: Record<string, Partial<Record<JobStatus, number>>>;
  /** Jobs that finished in the last `throughputMinutes` minutes. */
  lastHour: { succeeded: number; failed: number };
  throughput: ThroughputMinute[];
}

const PAGE_SIZE = 100;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/**
 * A job ended badly: `failed`, or `compensated` (an order that failed and was undone). A cancelled job is what its
 * caller asked for, so it counts as neither success nor failure.
 */
export function isFailureOutcome(status: JobStatus): boolean {
  return status === 'failed' || status === 'compensated';
}

/**
 * Counts jobs per type and status and succeeded/failed per minute, by reading the most recent jobs through the
 * listing (newest first) until the window or `maxJobs` is reached. Nothing is counted at write time: a shared
 * counter row would put every job of every instance on one hot partition.
 */
export async function summariseJobs(list: ListRecentJobs, options: JobSummaryOptions): Promise<JobSummary> {
  const nowMs = options.now.getTime();
  const sinceMs = nowMs - options.windowHours * HOUR_MS;
  const currentMinuteMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
  const firstMinuteMs = currentMinuteMs - (options.throughputMinutes - 1) * MINUTE_MS;
  const throughput: ThroughputMinute[] = Array.from({ length: options.throughputMinutes }, (_, i) => ({
    minute: new Date(firstMinuteMs + i * MINUTE_MS).toISOString(),
    succeeded: 0,
    failed: 0,
  }));
  const counts: JobSummary['counts'] = {};
  let scanned = 0;
  let truncated = false;
  let token: string | undefined;
  scan: for (;;) {
    const page = await list({ limit: PAGE_SIZE, ...(token ? { continuationToken: token } : {}) });
    for (const job of page.jobs) {
      if (Date.parse(job.createdAt) < sinceMs) break scan;
      if (scanned >= options.maxJobs) {
        truncated = true;
        break scan;
      }
      scanned++;
      const byStatus = (counts[job.type] ??= {});
      byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
      const completedMs = job.completedAt ? Date.parse(job.completedAt) : NaN;
      if (!(completedMs >= firstMinuteMs && completedMs < currentMinuteMs + MINUTE_MS)) continue;
      const bucket = throughput[Math.floor((completedMs - firstMinuteMs) / MINUTE_MS)];
      if (!bucket) continue;
      if (job.status === 'succeeded') bucket.succeeded++;
      else if (isFailureOutcome(job.status)) bucket.failed++;
    }
    token = page.continuationToken;
    if (!token) break;
  }
  return {
    generatedAt: options.now.toISOString(),
    since: new Date(sinceMs).toISOString(),
    windowHours: options.windowHours,
    scanned,
    truncated,
    counts,
    lastHour: {
      succeeded: throughput.reduce((sum, m) => sum + m.succeeded, 0),
      failed: throughput.reduce((sum, m) => sum + m.failed, 0),
    },
    throughput,
  };
}
