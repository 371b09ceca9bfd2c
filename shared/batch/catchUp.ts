import { isValidDate, previousUtcDate } from './nightlyBatch';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The dates a timer run should report on. Normally the previous UTC day. When the host says the run is past due (no
 * host ran at the scheduled time), every day since the last recorded run, oldest first, capped at `maxDays`: the
 * host fires once for any number of missed occurrences, so the catch-up is the app's job. And every day after
 * `lastSucceeded` (the newest date whose run succeeded), capped likewise: the host records an occurrence as run even
 * when its invocation failed (a storage error queueing the date), so the next one is not past due, and without this
 * that date would never be reported.
 */
export function datesToRun(
  now: Date,
  isPastDue: boolean,
  lastRun: Date | undefined,
  maxDays: number,
  lastSucceeded?: string,
): string[] {
  const yesterday = previousUtcDate(now);
  const dates = new Set<string>([yesterday]);
  const addFrom = (first: Date) => {
    for (let day = Date.parse(first.toISOString().slice(0, 10)); ; day += DAY_MS) {
      const date = new Date(day).toISOString().slice(0, 10);
      if (date > yesterday) break;
      dates.add(date);
    }
  };
  // The last run (at day L) reported on L-1; the missed ones report on L .. yesterday.
  if (isPastDue && lastRun && !Number.isNaN(lastRun.getTime()) && lastRun.getUTCFullYear() >= 2000) addFrom(lastRun);
  if (lastSucceeded && isValidDate(lastSucceeded)) addFrom(new Date(Date.parse(lastSucceeded) + DAY_MS));
  return [...dates].sort().slice(-maxDays);
}
