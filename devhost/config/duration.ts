import { HostJsonError } from './errors';

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * Parses a .NET TimeSpan as host.json writes durations (`[d.]hh:mm:ss[.fff]`) into milliseconds.
 * @param setting the host.json path, for the error
 */
export function parseTimeSpanMs(value: unknown, setting: string): number {
  if (typeof value !== 'string') {
    throw new HostJsonError(setting, `must be a duration string like "00:00:30", got ${JSON.stringify(value)}`);
  }
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(value.trim());
  if (!match) {
    throw new HostJsonError(setting, `"${value}" is not a duration of the form [d.]hh:mm:ss`);
  }
  const [, days, hours, minutes, seconds, fraction] = match;
  const h = Number(hours);
  const m = Number(minutes);
  const s = Number(seconds);
  if (h > 23 || m > 59 || s > 59) {
    throw new HostJsonError(setting, `"${value}" has an hour, minute or second out of range`);
  }
  const fractionMs = fraction ? Math.round(Number(`0.${fraction}`) * SECOND_MS) : 0;
  return Number(days ?? 0) * DAY_MS + h * HOUR_MS + m * MINUTE_MS + s * SECOND_MS + fractionMs;
}
