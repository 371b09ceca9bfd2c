import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readReportFile, recentDailyRevenue, type ReportBlobs, reportDays } from '../../shared/batch/dailyReportFiles';

/** Report blobs in a map, recording every name read. */
function memoryReports(blobs: Record<string, string>): ReportBlobs & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    list: (prefix) => Promise.resolve(Object.keys(blobs).filter((name) => name.startsWith(prefix))),
    read: (name) => {
      reads.push(name);
      const text = blobs[name];
      return Promise.resolve(text === undefined ? undefined : Buffer.from(text));
    },
  };
}

function day(date: string, revenueCents: number): string {
  return JSON.stringify({ date, orders: 2, succeeded: 1, revenueCents, lines: ['not listed'] });
}

describe('daily report files', () => {
  it('reads the days parameter: 14 by default, whole numbers from 1 to 366 only', () => {
    assert.equal(reportDays(null), 14);
    assert.equal(reportDays('1'), 1);
    assert.equal(reportDays('366'), 366);
    for (const bad of ['0', '367', '2.5', 'abc', '-3']) assert.equal(reportDays(bad), undefined, bad);
  });

  it('lists the latest reports oldest first, from the JSON files only, with the revenue fields only', async () => {
    const reports = memoryReports({
      'daily/2026-11-23.json': day('2026-11-23', 300),
      'daily/2026-11-21.json': day('2026-11-21', 100),
      'daily/2026-11-22.json': day('2026-11-22', 200),
      'daily/2026-11-22.csv': 'csv',
      'other/2026-11-24.json': day('2026-11-24', 400),
    });
    assert.deepEqual(await recentDailyRevenue(reports, 2), [
      { date: '2026-11-22', orders: 2, succeeded: 1, revenueCents: 200 },
      { date: '2026-11-23', orders: 2, succeeded: 1, revenueCents: 300 },
    ]);
    assert.deepEqual(await recentDailyRevenue(memoryReports({}), 14), []);
  });

  it('serves a report file by date and format, and never looks up a name that is not one', async () => {
    const reports = memoryReports({ 'daily/2026-11-22.csv': 'date,orders\n' });
    const found = await readReportFile(reports, '2026-11-22.csv');
    assert.ok(found.outcome === 'found');
    assert.equal(found.format, 'csv');
    assert.equal(found.body.toString(), 'date,orders\n');
    assert.deepEqual(await readReportFile(reports, '2026-11-23.json'), { outcome: 'missing', date: '2026-11-23' });
    for (const name of ['../secrets.json', '2026-11-22.txt', '2026-11-22.csv/x', ''])
      assert.deepEqual(await readReportFile(reports, name), { outcome: 'not-a-report' }, name);
    assert.deepEqual(reports.reads, ['daily/2026-11-22.csv', 'daily/2026-11-23.json']);
  });
});
