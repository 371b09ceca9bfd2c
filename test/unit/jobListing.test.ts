import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type JobListingPorts, jobListQuery, listJobs } from '../../shared/dashboard/jobListing';
import { InvalidContinuationTokenError } from '../../shared/jobs/jobIndex';
import { newJob } from '../../shared/jobs/jobRules';
import type { Job } from '../../shared/jobs/jobTypes';

/** An upload's job id (`upl_` and 22 characters): its blob sits under it, and its label is the file name. */
const UPLOAD_ID = 'upl_AAAAAAAAAAAAAAAAAAAAAA';
const uploadJob: Job = {
  ...newJob(
    {
      id: UPLOAD_ID,
      type: 'thumbnail',
      data: { container: 'uploads', name: `${UPLOAD_ID}/sunset.png` },
    },
    '2026-11-25T10:00:00.000Z',
  ),
  status: 'succeeded',
};

function ports(overrides: Partial<JobListingPorts> = {}): JobListingPorts & { queries: unknown[]; lookups: string[] } {
  const queries: unknown[] = [];
  const lookups: string[] = [];
  return {
    queries,
    lookups,
    list: (query) => {
      queries.push(query);
      return Promise.resolve({ jobs: [uploadJob], continuationToken: 'next' });
    },
    findJobOfUpload: (name) => {
      lookups.push(name);
      return Promise.resolve(name === `${UPLOAD_ID}/sunset.png` ? uploadJob : undefined);
    },
    ...overrides,
  };
}

const query = (q: Record<string, string>) => jobListQuery.parse(q);

describe('job listing', () => {
  it('lists a page with only the filters given, each job with its label and without its private data', async () => {
    const fake = ports();
    const listing = await listJobs(fake, query({ type: 'thumbnail', limit: '5' }));
    assert.deepEqual(fake.queries, [{ type: 'thumbnail', limit: 5 }]);
    assert.ok(listing.outcome === 'listed');
    assert.equal(listing.continuationToken, 'next');
    assert.equal(listing.jobs[0]?.label, 'sunset.png');
    assert.equal('data' in (listing.jobs[0] ?? {}), false);
  });

  it("finds an uploaded blob's job by source, and lists nothing when the filters rule it out or there is none", async () => {
    const fake = ports();
    const found = await listJobs(fake, query({ source: `uploads/${UPLOAD_ID}/sunset.png` }));
    assert.ok(found.outcome === 'listed');
    assert.deepEqual(
      found.jobs.map((j) => j.id),
      [UPLOAD_ID],
    );
    assert.equal(found.continuationToken, undefined);
    const ruledOut: Record<string, string>[] = [
      { status: 'failed' },
      { type: 'order' },
      { source: 'uploads/other.png' },
    ];
    for (const filters of ruledOut) {
      const listing = await listJobs(fake, query({ source: `uploads/${UPLOAD_ID}/sunset.png`, ...filters }));
      assert.deepEqual(listing, { outcome: 'listed', jobs: [] }, JSON.stringify(filters));
    }
    assert.deepEqual(fake.queries, [], 'a source lookup never scans the listing');
  });

  it('answers invalid-token for a token the index refuses, and lets other failures through', async () => {
    const refused = ports({ list: () => Promise.reject(new InvalidContinuationTokenError('stale token')) });
    assert.deepEqual(await listJobs(refused, query({})), { outcome: 'invalid-token', message: 'stale token' });
    const down = ports({ list: () => Promise.reject(new Error('storage down')) });
    await assert.rejects(listJobs(down, query({})), /storage down/);
  });
});
