import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  occurrencesBetween,
  parseSchedule,
  ScheduleError,
  shouldDisableScheduleMonitor,
} from '../../devhost/timer/schedule';

/** The next occurrence of `expression` after `from`, as an ISO string. */
function next(expression: string, from: string): string {
  return parseSchedule(expression).nextAfter(new Date(from)).toISOString();
}

/** The first `count` occurrences after `from`, as ISO strings. */
function nextN(expression: string, from: string, count: number): string[] {
  const schedule = parseSchedule(expression);
  const result: string[] = [];
  let time = new Date(from);
  for (let i = 0; i < count; i++) {
    time = schedule.nextAfter(time);
    result.push(time.toISOString());
  }
  return result;
}

function parseError(expression: string): ScheduleError {
  try {
    parseSchedule(expression);
  } catch (error) {
    if (error instanceof ScheduleError) return error;
    throw error;
  }
  assert.fail(`'${expression}' should not parse`);
}

describe('timer schedule: cron expressions (NCrontab with seconds, UTC)', () => {
  it('fires every 5 seconds with */5 * * * * *, strictly after the given time', () => {
    const schedule = parseSchedule('*/5 * * * * *');
    assert.equal(schedule.kind, 'cron');
    assert.equal(schedule.expression, '*/5 * * * * *');
    assert.deepEqual(nextN('*/5 * * * * *', '2026-11-24T01:59:52Z', 3), [
      '2026-11-24T01:59:55.000Z',
      '2026-11-24T02:00:00.000Z',
      '2026-11-24T02:00:05.000Z',
    ]);
    // Milliseconds are truncated before searching: an occurrence at the same second is not "after".
    assert.equal(next('*/5 * * * * *', '2026-11-24T01:59:55.000Z'), '2026-11-24T02:00:00.000Z');
    assert.equal(next('*/5 * * * * *', '2026-11-24T01:59:55.999Z'), '2026-11-24T02:00:00.000Z');
    assert.equal(next('*/5 * * * * *', '2026-11-24T01:59:54.999Z'), '2026-11-24T01:59:55.000Z');
  });

  it('fires every 5 minutes on the minute with 0 */5 * * * *', () => {
    assert.deepEqual(nextN('0 */5 * * * *', '2026-11-24T01:53:10Z', 3), [
      '2026-11-24T01:55:00.000Z',
      '2026-11-24T02:00:00.000Z',
      '2026-11-24T02:05:00.000Z',
    ]);
  });

  it('fires daily at 02:00 UTC with 0 0 2 * * *', () => {
    assert.equal(next('0 0 2 * * *', '2026-11-24T01:59:59Z'), '2026-11-24T02:00:00.000Z');
    assert.equal(next('0 0 2 * * *', '2026-11-24T02:00:00Z'), '2026-11-25T02:00:00.000Z');
    assert.equal(next('0 0 2 * * *', '2026-11-30T03:00:00Z'), '2026-12-01T02:00:00.000Z');
  });

  it('reads the 5-field form as having no seconds (second 0)', () => {
    assert.equal(next('0 2 * * *', '2026-11-24T01:59:59Z'), '2026-11-24T02:00:00.000Z');
    assert.deepEqual(nextN('*/15 * * * *', '2026-11-24T00:00:00Z', 2), [
      '2026-11-24T00:15:00.000Z',
      '2026-11-24T00:30:00.000Z',
    ]);
  });

  it('supports ranges, lists and steps (*/n, a-b/n, a/n)', () => {
    assert.deepEqual(nextN('0 0 9-17/4 * * *', '2026-11-24T00:00:00Z', 4), [
      '2026-11-24T09:00:00.000Z',
      '2026-11-24T13:00:00.000Z',
      '2026-11-24T17:00:00.000Z',
      '2026-11-25T09:00:00.000Z',
    ]);
    assert.deepEqual(nextN('0 15,45 8 * * *', '2026-11-24T08:20:00Z', 3), [
      '2026-11-24T08:45:00.000Z',
      '2026-11-25T08:15:00.000Z',
      '2026-11-25T08:45:00.000Z',
    ]);
    // a/n runs from a to the field's maximum.
    assert.deepEqual(nextN('10/20 * * * * *', '2026-11-24T00:00:00Z', 4), [
      '2026-11-24T00:00:10.000Z',
      '2026-11-24T00:00:30.000Z',
      '2026-11-24T00:00:50.000Z',
      '2026-11-24T00:01:10.000Z',
    ]);
    // As in NCrontab, a/1 is just a.
    assert.equal(next('0 11/1 * * * *', '2026-11-24T00:11:00Z'), '2026-11-24T01:11:00.000Z');
    assert.deepEqual(nextN('0 0 0 1 1-3,10 *', '2026-11-24T00:00:00Z', 4), [
      '2027-01-01T00:00:00.000Z',
      '2027-02-01T00:00:00.000Z',
      '2027-03-01T00:00:00.000Z',
      '2027-10-01T00:00:00.000Z',
    ]);
  });

  it('accepts month and day names in any case, and 7 as Sunday', () => {
    // 2026-11-27 is a Friday: the next weekday at 09:00 is Monday the 30th.
    assert.equal(next('0 0 9 * * MON-FRI', '2026-11-27T09:00:00Z'), '2026-11-30T09:00:00.000Z');
    assert.equal(next('0 0 9 * * mon-fri', '2026-11-28T12:00:00Z'), '2026-11-30T09:00:00.000Z');
    assert.equal(next('0 0 9 * * Mon-Fri', '2026-11-24T08:00:00Z'), '2026-11-24T09:00:00.000Z');
    assert.deepEqual(nextN('0 0 0 1 jan,Jul *', '2026-11-24T00:00:00Z', 2), [
      '2027-01-01T00:00:00.000Z',
      '2027-07-01T00:00:00.000Z',
    ]);
    assert.equal(next('0 0 0 * * 7', '2026-11-24T00:00:00Z'), '2026-11-29T00:00:00.000Z');
    assert.equal(next('0 0 0 * * 0', '2026-11-24T00:00:00Z'), '2026-11-29T00:00:00.000Z');
    assert.equal(next('0 0 0 * * SUN', '2026-11-24T00:00:00Z'), '2026-11-29T00:00:00.000Z');
  });

  it('finds 29 February in leap years only, quickly, across a skipped century leap year', () => {
    const schedule = parseSchedule('0 0 0 29 2 *');
    const started = performance.now();
    assert.equal(schedule.nextAfter(new Date('2026-11-24T00:00:00Z')).toISOString(), '2028-02-29T00:00:00.000Z');
    assert.equal(schedule.nextAfter(new Date('2028-02-29T00:00:00Z')).toISOString(), '2032-02-29T00:00:00.000Z');
    // 2100 is not a leap year.
    assert.equal(schedule.nextAfter(new Date('2096-03-01T00:00:00Z')).toISOString(), '2104-02-29T00:00:00.000Z');
    assert.ok(performance.now() - started < 50, 'searching skips by month and day, not by second');
  });

  it('requires both day-of-month and day-of-week to match (NCrontab ANDs them)', () => {
    // Friday the 13th: the next after 2026-11-24 is in August 2027, not Friday 27 November or 13 December.
    assert.equal(next('0 0 0 13 * FRI', '2026-11-24T00:00:00Z'), '2027-08-13T00:00:00.000Z');
    // The 1st of a month that is a Monday: 2027-02-01 and 2027-03-01.
    assert.deepEqual(nextN('0 0 0 1 * MON', '2026-11-24T00:00:00Z', 2), [
      '2027-02-01T00:00:00.000Z',
      '2027-03-01T00:00:00.000Z',
    ]);
    // 29 February on a Tuesday is rare (2028-02-29 is a Tuesday; next after that 2056) but does happen.
    assert.deepEqual(nextN('0 0 0 29 2 TUE', '2026-11-24T00:00:00Z', 2), [
      '2028-02-29T00:00:00.000Z',
      '2056-02-29T00:00:00.000Z',
    ]);
  });

  it('rolls over into the next year', () => {
    assert.equal(next('0 0 0 1 1 *', '2026-12-31T23:59:59.999Z'), '2027-01-01T00:00:00.000Z');
    assert.equal(next('*/5 * * * * *', '2026-12-31T23:59:58Z'), '2027-01-01T00:00:00.000Z');
    assert.equal(next('59 59 23 31 12 *', '2026-12-31T23:59:59Z'), '2027-12-31T23:59:59.000Z');
    assert.equal(next('0 0 12 * 3 *', '2026-11-24T00:00:00Z'), '2027-03-01T12:00:00.000Z');
  });

  it('describes itself as UTC', () => {
    assert.match(String(parseSchedule('0 0 2 * * *')), /0 0 2 \* \* \*.*UTC/);
  });
});

describe('timer schedule: TimeSpan intervals', () => {
  it('fires every 30 seconds after the given time with 00:00:30', () => {
    const schedule = parseSchedule('00:00:30');
    assert.equal(schedule.kind, 'interval');
    assert.equal(schedule.expression, '00:00:30');
    assert.equal(schedule.nextAfter(new Date('2026-11-24T12:00:00.250Z')).toISOString(), '2026-11-24T12:00:30.250Z');
  });

  it('reads days as d.hh:mm:ss', () => {
    assert.equal(
      parseSchedule('1.00:00:00').nextAfter(new Date('2026-11-24T12:00:00Z')).toISOString(),
      '2026-11-25T12:00:00.000Z',
    );
    assert.equal(
      parseSchedule('1.02:00:00').nextAfter(new Date('2026-11-24T12:00:00Z')).toISOString(),
      '2026-11-25T14:00:00.000Z',
    );
  });
});

describe('timer schedule: occurrencesBetween', () => {
  it('lists occurrences in (from, to], up to the limit', () => {
    const schedule = parseSchedule('*/5 * * * * *');
    const from = new Date('2026-11-24T00:00:00Z');
    const to = new Date('2026-11-24T00:01:00Z');
    assert.deepEqual(
      occurrencesBetween(schedule, from, to, 3).map((d) => d.toISOString()),
      ['2026-11-24T00:00:05.000Z', '2026-11-24T00:00:10.000Z', '2026-11-24T00:00:15.000Z'],
    );
    const all = occurrencesBetween(schedule, from, to, 100);
    assert.equal(all.length, 12);
    assert.equal(all.at(-1)?.toISOString(), '2026-11-24T00:01:00.000Z');
    assert.deepEqual(occurrencesBetween(schedule, from, to, 0), []);
    assert.deepEqual(occurrencesBetween(schedule, to, from, 10), []);
  });

  it('works for intervals too', () => {
    const occurrences = occurrencesBetween(
      parseSchedule('00:00:30'),
      new Date('2026-11-24T00:00:00Z'),
      new Date('2026-11-24T00:01:29Z'),
      10,
    );
    assert.deepEqual(
      occurrences.map((d) => d.toISOString()),
      ['2026-11-24T00:00:30.000Z', '2026-11-24T00:01:00.000Z'],
    );
  });

  it('refuses a negative or fractional limit', () => {
    const schedule = parseSchedule('* * * * * *');
    assert.throws(() => occurrencesBetween(schedule, new Date(0), new Date(10_000), -1), RangeError);
    assert.throws(() => occurrencesBetween(schedule, new Date(0), new Date(10_000), 1.5), RangeError);
  });
});

describe('timer schedule: the monitor the host turns off by default', () => {
  const off = (expression: string, at: string) => shouldDisableScheduleMonitor(parseSchedule(expression), new Date(at));

  it('is off for sub-minute schedules whose other fields are all *, and for intervals under a minute', () => {
    assert.equal(off('*/30 * * * * *', '2026-11-25T10:00:10Z'), true);
    assert.equal(off('* * * * * *', '2026-11-25T10:00:10Z'), true);
    assert.equal(off('00:00:30', '2026-11-25T10:00:10Z'), true);
  });

  it('stays on for a schedule that fires often only in some hours, or at most once a minute', () => {
    // Every 30 seconds in hour 9: the hour field is not *, so the host keeps monitoring, even inside hour 9.
    assert.equal(off('*/30 * 9 * * *', '2026-11-25T09:00:10Z'), false);
    assert.equal(off('*/30 * 9 * * *', '2026-11-25T12:00:10Z'), false);
    assert.equal(off('0 * * * * *', '2026-11-25T10:00:10Z'), false);
    assert.equal(off('0 */5 * * * *', '2026-11-25T10:00:10Z'), false);
    assert.equal(off('00:01:00', '2026-11-25T10:00:10Z'), false);
  });
});

describe('timer schedule: errors name what is wrong', () => {
  it('reports the wrong number of fields', () => {
    const error = parseError('* * * *');
    assert.equal(error.expression, '* * * *');
    assert.match(error.message, /expected 6 fields .*found 4/);
    assert.match(parseError('* * * * * * *').message, /found 7/);
    assert.match(parseError('   ').message, /empty/);
  });

  it('reports a value out of range, naming the field', () => {
    assert.equal(parseError('0 0 25 * * *').message, "field 'hour' value 25 is out of range 0-23 in '0 0 25 * * *'");
    assert.match(parseError('60 * * * * *').message, /field 'second' value 60 is out of range 0-59/);
    assert.match(parseError('0 60 * * * *').message, /field 'minute' value 60 is out of range 0-59/);
    assert.match(parseError('0 0 0 0 * *').message, /field 'day' value 0 is out of range 1-31/);
    assert.match(parseError('0 0 0 * 13 *').message, /field 'month' value 13 is out of range 1-12/);
    assert.match(parseError('0 0 0 * * 8').message, /field 'day-of-week' value 8 is out of range 0-7/);
    assert.match(parseError('0 0 1-25 * * *').message, /field 'hour' value 25/);
  });

  it('reports garbage, naming the field', () => {
    assert.match(parseError('0 0 abc * * *').message, /field 'hour' value 'abc' is not a number/);
    assert.match(parseError('0 0 0 * * MONDAY').message, /field 'day-of-week' value 'MONDAY'/);
    assert.match(parseError('0 0 0 * MON *').message, /field 'month' value 'MON'/);
    assert.match(parseError('0 0 0 JAN * *').message, /field 'day' value 'JAN' is not a number/);
    assert.match(parseError('*/0 * * * * *').message, /field 'second' step '0'/);
    assert.match(parseError('0 */x * * * *').message, /field 'minute' step 'x'/);
    assert.match(parseError('0 0 17-9 * * *').message, /field 'hour' range '17-9' runs backwards/);
    assert.match(parseError('0 1,,2 * * * *').message, /field 'minute' .*empty list item/);
    assert.match(parseError('0 -5 * * * *').message, /field 'minute'/);
    assert.match(parseError('1:2:3:4').message, /neither a cron expression .* nor a TimeSpan/);
  });

  it('refuses a schedule that never fires', () => {
    assert.match(parseError('0 0 0 31 2 *').message, /never fires: field 'day' 31 never falls in field 'month' 2/);
    assert.match(parseError('0 0 0 30 2 *').message, /never fires/);
    assert.match(parseError('0 0 0 31 4,6,9,11 *').message, /never fires/);
  });

  it('refuses a zero, negative or out-of-range TimeSpan', () => {
    assert.match(parseError('00:00:00').message, /interval '00:00:00' is zero/);
    assert.match(parseError('-00:00:30').message, /interval '-00:00:30' is negative/);
    assert.match(parseError('00:60:00').message, /TimeSpan field 'minutes' value 60 is out of range 0-59/);
    assert.match(parseError('24:00:00').message, /TimeSpan field 'hours' value 24 is out of range 0-23/);
  });
});
