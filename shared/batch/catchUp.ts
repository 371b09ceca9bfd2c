import { previousUtcDate } from './nightlyBatch';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The dates a timer run should report on. Normally the previous UTC day. When the host says the run is past due (no
 * host ran at the scheduled time), every day since the last recorded run, oldest first, capped at `maxDays`: the
 * host fires once for any number of missed occurrences, so the catch-up is the app's job.
 */
export function datesToRun(now: Date, isPastDue: boolean, lastRun: Date | undefined, maxDays: number): string[] {
  const yesterday = previousUtcDate(now);
  if (!isPastDue || !lastRun || Number.isNaN(lastRun.getTime()) || lastRun.getUTCFullYear() < 2000) return [yesterday];
  // The last run (at day L) reported on L-1; the missed ones report on L .. yesterday.
  const dates: string[] = [];
  for (let day = Date.parse(lastRun.toISOString().slice(0, 10)); ; day += DAY_MS) {
    const date = new Date(day).toISOString().slice(0, 10);
    if (date > yesterday) break;
    dates.push(date);
  }
  if (dates.length === 0) dates.push(yesterday);
  return dates.slice(-maxDays);
}
