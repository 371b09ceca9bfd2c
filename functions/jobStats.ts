import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { json } from '../shared/http/problem';
import { DEFAULT_SUMMARY_OPTIONS, type JobSummary, summariseJobs } from '../shared/jobs/jobSummary';

/** Dashboard tabs refreshing every few seconds share one scan: each reads up to `maxJobs` job records. */
const CACHE_MS = 10_000;
let cached: { at: number; summary: Promise<JobSummary> } | undefined;

app.http('jobStats', {
  route: 'stats/jobs',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async () => {
    const { jobs, ready } = appServices();
    await ready();
    const now = Date.now();
    if (!cached || now - cached.at > CACHE_MS) {
      const summary = summariseJobs((query) => jobs.list(query), { ...DEFAULT_SUMMARY_OPTIONS, now: new Date(now) });
      cached = { at: now, summary };
      summary.catch(() => {
        if (cached?.summary === summary) cached = undefined;
      });
    }
    return json(200, await cached.summary, { 'cache-control': 'no-store' });
  },
});
