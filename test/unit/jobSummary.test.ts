import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { jobLabel } from '../../shared/dashboard/jobLabel';
import { type ListRecentJobs, summariseJobs } from '../../shared/jobs/jobSummary';
import type { Job, JobStatus } from '../../shared/jobs/jobTypes';

const NOW = new Date('2026-11-25T12:30:20Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();

function job(id: string, type: string, status: JobStatus, createdAt: string, completedAt?: string): Job {
  return {
    id,
    type,
    status,
    progress: { step: 'x', index: 0, total: 1, percent: 0 },
    attempts: 1,
    createdAt,
    updatedAt: completedAt ?? createdAt,
    ...(completedAt ? { completedAt } : {}),
    correlation: {},
    data: {},
  };
}

/** An in-memory listing with the store's contract: newest first, paged by an opaque token. */
function listingOf(jobs: Job[]): ListRecentJobs & { pagesRead: number } {
  const sorted = [...jobs].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const list = (query: { limit: number; continuationToken?: string }) => {
    list.pagesRead++;
    const start = Number(query.continuationToken ?? '0');
    const page = sorted.slice(start, start + query.limit);
    const next = start + query.limit;
    return Promise.resolve({ jobs: page, ...(next < sorted.length ? { continuationToken: String(next) } : {}) });
  };
  list.pagesRead = 0;
  return list;
}

describe('job summary', () => {
  const options = { now: NOW, windowHours: 24, throughputMinutes: 60, maxJobs: 1000 };

  it('counts per type and status within the window, and finished jobs per minute', async () => {
    const summary = await summariseJobs(
      listingOf([
        job('a', 'order', 'succeeded', minutesAgo(3), minutesAgo(2.5)),
        job('b', 'order', 'compensated', minutesAgo(3), minutesAgo(2.2)),
        job('c', 'thumbnail', 'failed', minutesAgo(10), minutesAgo(9.9)),
        job('d', 'thumbnail', 'succeeded', minutesAgo(0.1), minutesAgo(0)),
        job('e', 'thumbnail', 'queued', minutesAgo(1)),
        job('f', 'order', 'cancelled', minutesAgo(5), minutesAgo(4)),
        // Finished more than an hour ago: counted by status, not in the throughput.
        job('g', 'nightly', 'succeeded', minutesAgo(200), minutesAgo(190)),
        // Created before the window: not counted at all.
        job('h', 'order', 'succeeded', minutesAgo(25 * 60), minutesAgo(25 * 60 - 1)),
      ]),
      options,
    );
    assert.deepEqual(summary.counts, {
      order: { succeeded: 1, compensated: 1, cancelled: 1 },
      thumbnail: { failed: 1, succeeded: 1, queued: 1 },
      nightly: { succeeded: 1 },
    });
    assert.equal(summary.scanned, 7);
    assert.equal(summary.truncated, false);
    assert.deepEqual(summary.lastHour, { succeeded: 2, failed: 2 });
    assert.equal(summary.throughput.length, 60);
    assert.equal(summary.throughput.at(-1)?.minute, '2026-11-25T12:30:00.000Z');
    assert.equal(summary.throughput[0]?.minute, '2026-11-25T11:31:00.000Z');
    const at = (iso: string) => summary.throughput.find((m) => m.minute === iso);
    assert.deepEqual(at('2026-11-25T12:30:00.000Z'), { minute: '2026-11-25T12:30:00.000Z', succeeded: 1, failed: 0 });
    assert.deepEqual(at('2026-11-25T12:27:00.000Z'), { minute: '2026-11-25T12:27:00.000Z', succeeded: 1, failed: 0 });
    assert.deepEqual(at('2026-11-25T12:28:00.000Z'), { minute: '2026-11-25T12:28:00.000Z', succeeded: 0, failed: 1 });
    assert.deepEqual(at('2026-11-25T12:20:00.000Z'), { minute: '2026-11-25T12:20:00.000Z', succeeded: 0, failed: 1 });
  });

  it('stops at the window without reading older pages, and flags a scan cut short by maxJobs', async () => {
    const many = Array.from({ length: 450 }, (_, i) => job(`j${i}`, 'order', 'queued', minutesAgo(i * 10)));
    const list = listingOf(many);
    const summary = await summariseJobs(list, options);
    assert.equal(summary.scanned, 24 * 6 + 1, 'jobs created in the last 24 hours');
    assert.equal(list.pagesRead, 2, 'older pages are never read');
    const capped = await summariseJobs(listingOf(many), { ...options, maxJobs: 50 });
    assert.equal(capped.scanned, 50);
    assert.equal(capped.truncated, true);
    assert.deepEqual(capped.counts, { order: { queued: 50 } });
  });

  it('is all zeros, not an error, with no jobs', async () => {
    const summary = await summariseJobs(listingOf([]), options);
    assert.deepEqual(summary.counts, {});
    assert.deepEqual(summary.lastHour, { succeeded: 0, failed: 0 });
    assert.ok(summary.throughput.every((m) => m.succeeded === 0 && m.failed === 0));
  });
});

describe('job label', () => {
  it('names what a person knows a job by', () => {
    const thumb = {
      ...job('t', 'thumbnail', 'queued', minutesAgo(1)),
      data: { name: 'upl_AAAAAAAAAAAAAAAAAAAAAA/sunset.png' },
    };
    assert.equal(jobLabel(thumb), 'sunset.png');
    assert.equal(jobLabel({ ...thumb, data: { name: 'holiday/beach.jpg' } }), 'holiday/beach.jpg');
    const order = {
      ...job('o', 'order', 'queued', minutesAgo(1)),
      data: { customer: { name: 'Ada Lovelace', email: 'ada@example.com' }, lines: [{ quantity: 2 }, { quantity: 1 }] },
    };
    assert.equal(jobLabel(order), 'Ada Lovelace, 3 items');
    assert.equal(
      jobLabel({ ...job('n', 'nightly', 'queued', minutesAgo(1)), data: { date: '2026-11-24' } }),
      'report for 2026-11-24',
    );
    assert.equal(jobLabel({ ...job('x', 'order', 'queued', minutesAgo(1)), data: {} }), '');
    assert.equal(jobLabel({ ...job('y', 'other', 'queued', minutesAgo(1)), data: { label: 7 } }), '');
  });
});
