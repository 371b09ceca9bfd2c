/**
 * Timer-trigger schedules as the Azure Functions host reads them: an NCrontab expression with seconds
 * (`{second} {minute} {hour} {day} {month} {day-of-week}`, or five fields without seconds) or a TimeSpan
 * (`[d.]hh:mm[:ss[.fffffff]]`) meaning a fixed interval.
 *
 * Occurrences are computed in UTC, the host's default. WEBSITE_TIME_ZONE (and TZ on Linux plans) is not supported,
 * so a schedule here fires at the instants a deployed app without a time-zone setting would.
 */

export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
  constructor(
    message: string,
    /** The schedule as written, so the caller can name the function and setting it came from. */
    readonly expression: string,
  ) {
    super(message);
  }
}

export interface Schedule {
  readonly kind: 'cron' | 'interval';
  /** The expression as written (trimmed). */
  readonly expression: string;
  /** The first occurrence strictly after `time`. Cron occurrences fall on whole seconds, in UTC. */
  nextAfter(time: Date): Date;
  /** A description for logs that says how occurrences are computed (cron in UTC, or a fixed interval). */
  toString(): string;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  /** The largest value `*` and `a/n` reach. */
  readonly max: number;
  /** The largest value accepted as written (day-of-week also takes 7 for Sunday, as Vixie cron does). */
  readonly maxLiteral: number;
  /** Names accepted instead of numbers, for value `min + index`. */
  readonly names?: readonly string[];
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59, maxLiteral: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59, maxLiteral: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23, maxLiteral: 23 };
const DAY: FieldSpec = { name: 'day', min: 1, max: 31, maxLiteral: 31 };
const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  maxLiteral: 12,
  names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
};
const DAY_OF_WEEK: FieldSpec = {
  name: 'day-of-week',
  min: 0,
  max: 6,
  maxLiteral: 7,
  names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
};

const FIELD_LAYOUT = '{second} {minute} {hour} {day} {month} {day-of-week}';

/** Days in each month of a leap year: the most a month can have, for telling "rare" from "never". */
const MAX_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * How far `nextAfter` searches. The Gregorian calendar repeats every 400 years (146097 days, a whole number of
 * weeks), so every month/day/weekday combination that can occur does occur within any 400-year window; the
 * parse-time check below rules out the combinations that never occur, so the search always ends in a result.
 */
const SEARCH_YEARS = 400;

/** The values one cron field allows, with a lookup for the least allowed value at or after a given one. */
class FieldValues {
  /** `nextFrom[v]` is the least allowed value >= v, or -1 when there is none. */
  private readonly nextFrom: Int16Array;

  constructor(
    readonly values: readonly number[],
    max: number,
  ) {
    this.nextFrom = new Int16Array(max + 2).fill(-1);
    let next = -1;
    for (let v = max; v >= 0; v--) {
      if (values.includes(v)) next = v;
      this.nextFrom[v] = next;
    }
  }

  has(value: number): boolean {
    return this.next(value) === value;
  }

  next(from: number): number | undefined {
    const value = this.nextFrom[from] ?? -1;
    return value < 0 ? undefined : value;
  }
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return MAX_DAYS_IN_MONTH[month - 1] ?? 31;
}

/** A UTC date from its parts; avoids Date.UTC, which reads years 0-99 as 1900-1999. */
function utcDate(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): Date {
  const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second));
  date.setUTCFullYear(year, month - 1, day);
  return date;
}

function requireValidDate(time: Date): number {
  const ms = time.getTime();
  if (Number.isNaN(ms)) throw new RangeError('schedule: the time to search from is an invalid Date');
  return ms;
}

class CronSchedule implements Schedule {
  readonly kind = 'cron';

  constructor(
    readonly expression: string,
    private readonly seconds: FieldValues,
    private readonly minutes: FieldValues,
    private readonly hours: FieldValues,
    private readonly days: FieldValues,
    private readonly months: FieldValues,
    private readonly daysOfWeek: FieldValues,
  ) {}

  /**
   * Walks the calendar from the largest unit down, jumping each unit straight to its next allowed value and
   * resetting the smaller units when a larger one moves, so a search costs a few steps per month or day skipped
   * rather than one per second.
   */
  nextAfter(time: Date): Date {
    // Occurrences are whole seconds: truncate, then start one second later so the result is strictly after `time`.
    const start = new Date(Math.floor(requireValidDate(time) / 1000) * 1000 + 1000);
    let year = start.getUTCFullYear();
    let month = start.getUTCMonth() + 1;
    let day = start.getUTCDate();
    let hour = start.getUTCHours();
    let minute = start.getUTCMinutes();
    let second = start.getUTCSeconds();
    const lastYear = year + SEARCH_YEARS;

    while (year <= lastYear) {
      const nextMonth = this.months.next(month);
      if (nextMonth === undefined) {
        year++;
        month = 1;
        day = 1;
        hour = minute = second = 0;
        continue;
      }
      if (nextMonth !== month) {
        month = nextMonth;
        day = 1;
        hour = minute = second = 0;
      }

      const nextDay = this.nextDayIn(year, month, day);
      if (nextDay === undefined) {
        month++;
        day = 1;
        hour = minute = second = 0;
        continue;
      }
      if (nextDay !== day) {
        day = nextDay;
        hour = minute = second = 0;
      }

      const nextHour = this.hours.next(hour);
      if (nextHour === undefined) {
        day++;
        hour = minute = second = 0;
        continue;
      }
      if (nextHour !== hour) {
        hour = nextHour;
        minute = second = 0;
      }

      const nextMinute = this.minutes.next(minute);
      if (nextMinute === undefined) {
        hour++;
        minute = second = 0;
        continue;
      }
      if (nextMinute !== minute) {
        minute = nextMinute;
        second = 0;
      }

      const nextSecond = this.seconds.next(second);
      if (nextSecond === undefined) {
        minute++;
        second = 0;
        continue;
      }

      const occurrence = utcDate(year, month, day, hour, minute, nextSecond);
      if (Number.isNaN(occurrence.getTime())) break; // past the largest Date
      return occurrence;
    }
    // Unreachable for schedules parseSchedule accepted, except at the far end of the Date range.
    throw new RangeError(`schedule '${this.expression}' has no occurrence after ${time.toISOString()}`);
  }

  /**
   * The first day from `from` in this month that both day-of-month and day-of-week allow. NCrontab requires both
   * to match (unlike Vixie cron, which fires when either does when both are restricted).
   */
  private nextDayIn(year: number, month: number, from: number): number | undefined {
    const last = daysInMonth(year, month);
    for (let day = this.days.next(from); day !== undefined && day <= last; day = this.days.next(day + 1)) {
      if (this.daysOfWeek.has(utcDate(year, month, day).getUTCDay())) return day;
    }
    return undefined;
  }

  toString(): string {
    return `cron '${this.expression}' (UTC)`;
  }
}

class IntervalSchedule implements Schedule {
  readonly kind = 'interval';

  constructor(
    readonly expression: string,
    private readonly intervalMs: number,
  ) {}

  /** A TimeSpan schedule fires every interval from the given time, with no rounding to whole seconds. */
  nextAfter(time: Date): Date {
    const next = new Date(requireValidDate(time) + this.intervalMs);
    if (Number.isNaN(next.getTime())) {
      throw new RangeError(`schedule '${this.expression}' has no occurrence after ${time.toISOString()}`);
    }
    return next;
  }

  toString(): string {
    return `interval '${this.expression}' (every ${this.intervalMs} ms)`;
  }
}

function parseValue(token: string, item: string, spec: FieldSpec, expression: string): number {
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const index = spec.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index < 0) {
      const accepted = spec.names ? `a number or a name (${spec.names.join(', ')})` : 'a number';
      throw new ScheduleError(`field '${spec.name}' value '${item}' is not ${accepted} in '${expression}'`, expression);
    }
    value = spec.min + index;
  }
  if (value < spec.min || value > spec.maxLiteral) {
    throw new ScheduleError(
      `field '${spec.name}' value ${value} is out of range ${spec.min}-${spec.maxLiteral} in '${expression}'`,
      expression,
    );
  }
  return value;
}

/** One field: a comma list of `*`, `v`, `a-b`, each optionally `/step` (`a/n` runs from a to the maximum). */
function parseField(text: string, spec: FieldSpec, expression: string): FieldValues {
  const fail = (detail: string): ScheduleError =>
    new ScheduleError(`field '${spec.name}' ${detail} in '${expression}'`, expression);
  const values = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') throw fail(`value '${text}' has an empty list item`);
    const [range = '', stepText, extra] = item.split('/');
    if (extra !== undefined) throw fail(`value '${item}' has more than one '/'`);
    let step = 1;
    if (stepText !== undefined) {
      step = /^\d+$/.test(stepText) ? Number(stepText) : 0;
      if (step < 1) throw fail(`step '${stepText}' in '${item}' must be a whole number of at least 1`);
    }
    let first: number;
    let last: number;
    if (range === '*') {
      first = spec.min;
      last = spec.max;
    } else {
      const dash = range.indexOf('-');
      if (dash >= 0) {
        first = parseValue(range.slice(0, dash), item, spec, expression);
        last = parseValue(range.slice(dash + 1), item, spec, expression);
        if (first > last) throw fail(`range '${range}' runs backwards (${first} is after ${last})`);
      } else {
        first = parseValue(range, item, spec, expression);
        // As in NCrontab, `a/1` is just `a`; only a real step runs on to the maximum.
        last = step === 1 ? first : Math.max(first, spec.max);
      }
    }
    // Day-of-week 7 is Sunday, stored as 0 so it matches Date#getUTCDay.
    for (let v = first; v <= last; v += step) values.add(spec === DAY_OF_WEEK && v === 7 ? 0 : v);
  }
  return new FieldValues(
    [...values].sort((a, b) => a - b),
    spec.max,
  );
}

function parseCron(expression: string): Schedule {
  const parts = expression.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new ScheduleError(
      `expected 6 fields '${FIELD_LAYOUT}' (or 5 without seconds) but found ${parts.length} in '${expression}'`,
      expression,
    );
  }
  // The five-field form has no seconds and fires at second 0, as the host reads it.
  const [second, minute, hour, day, month, dayOfWeek] = parts.length === 6 ? parts : ['0', ...parts];
  const seconds = parseField(second ?? '', SECOND, expression);
  const minutes = parseField(minute ?? '', MINUTE, expression);
  const hours = parseField(hour ?? '', HOUR, expression);
  const days = parseField(day ?? '', DAY, expression);
  const months = parseField(month ?? '', MONTH, expression);
  const daysOfWeek = parseField(dayOfWeek ?? '', DAY_OF_WEEK, expression);

  // Because day-of-month and day-of-week must both match, and every weekday of a possible date recurs within the
  // 400-year cycle, a schedule never fires exactly when none of its days exists in any of its months (31 February).
  const possible = months.values.some((m) => days.values.some((d) => d <= (MAX_DAYS_IN_MONTH[m - 1] ?? 31)));
  if (!possible) {
    throw new ScheduleError(
      `schedule never fires: field 'day' ${days.values.join(',')} never falls in field 'month' ` +
        `${months.values.join(',')} in '${expression}'`,
      expression,
    );
  }
  return new CronSchedule(expression, seconds, minutes, hours, days, months, daysOfWeek);
}

/**
 * A .NET TimeSpan (`[-][d.]hh:mm[:ss[.fffffff]]`). Only expressions with a colon are read as TimeSpans: .NET would
 * also take a bare number as days ("5" = 5 days), but in a schedule that is almost always a mistyped cron
 * expression, so it is reported as one instead.
 */
function parseInterval(expression: string): Schedule {
  const match = /^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$/.exec(expression);
  if (!match) {
    throw new ScheduleError(
      `'${expression}' is neither a cron expression '${FIELD_LAYOUT}' nor a TimeSpan '[d.]hh:mm:ss'`,
      expression,
    );
  }
  const [, negative, days, hours, minutes, seconds, fraction] = match;
  const parts: [string, number, number][] = [
    ['hours', Number(hours), 23],
    ['minutes', Number(minutes), 59],
    ['seconds', Number(seconds ?? 0), 59],
  ];
  for (const [name, value, max] of parts) {
    if (value > max) {
      throw new ScheduleError(
        `TimeSpan field '${name}' value ${value} is out of range 0-${max} in '${expression}'`,
        expression,
      );
    }
  }
  const fractionMs = fraction ? Math.round(Number(`0.${fraction}`) * 1000) : 0;
  const ms =
    ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
    Number(seconds ?? 0) * 1000 +
    fractionMs;
  if (negative || ms <= 0) {
    throw new ScheduleError(
      `TimeSpan interval '${expression}' is ${negative ? 'negative' : 'zero'}; a timer interval must be positive`,
      expression,
    );
  }
  return new IntervalSchedule(expression, ms);
}

/** Reads a timer-trigger schedule; throws ScheduleError naming the field at fault. */
export function parseSchedule(expression: string): Schedule {
  const trimmed = expression.trim();
  if (trimmed === '') throw new ScheduleError(`schedule is empty; expected '${FIELD_LAYOUT}'`, expression);
  return trimmed.includes(':') ? parseInterval(trimmed) : parseCron(trimmed);
}

/** Occurrences in (`fromExclusive`, `toInclusive`], at most `limit` of them, earliest first. */
export function occurrencesBetween(schedule: Schedule, fromExclusive: Date, toInclusive: Date, limit: number): Date[] {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`occurrencesBetween: limit must be a whole number >= 0, got ${limit}`);
  }
  const end = requireValidDate(toInclusive);
  const occurrences: Date[] = [];
  let current = fromExclusive;
  while (occurrences.length < limit) {
    current = schedule.nextAfter(current);
    if (current.getTime() > end) break;
    occurrences.push(current);
  }
  return occurrences;
}

/**
 * Whether the host turns the schedule monitor off when `useMonitor` is not set
 * (`TimerSchedule.ShouldDisableScheduleMonitor`): for a TimeSpan interval under a minute, and for a cron schedule
 * that fires more than once in the next minute with every field but the seconds `*`. A schedule that fires often
 * only within some hours (every 30 seconds of hour 9: `0,30 * 9 * * *`) keeps its monitor, as on the host.
 */
export function shouldDisableScheduleMonitor(schedule: Schedule, now: Date): boolean {
  if (schedule.kind === 'interval') return schedule.nextAfter(now).getTime() - now.getTime() < 60_000;
  const [, ...rest] = schedule.expression.split(/\s+/);
  if (!rest.every((field) => field === '*')) return false;
  return occurrencesBetween(schedule, now, new Date(now.getTime() + 60_000 - 1), 2).length > 1;
}
