import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { jobListingPorts, jobListQuery, listJobs } from '../shared/dashboard/jobListing';
import { RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound, validationProblem } from '../shared/http/problem';
import { fieldProblems } from '../shared/http/requestBody';
import { isValidJobId, jobToPublic } from '../shared/jobs/jobStore';
import { isTerminal } from '../shared/jobs/jobTypes';

const noJob = (id: string) => notFound(`no job ${JSON.stringify(id.slice(0, 100))}`);

app.http('getJob', {
  route: 'jobs/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return noJob(id);
    const { jobs, ready } = appServices();
    await ready();
    const job = await jobs.get(id);
    if (!job) return notFound(`no job ${id}`);
    // Pollers of a job in flight are told when to ask again.
    return json(200, jobToPublic(job), isTerminal(job.status) ? {} : { 'retry-after': String(RETRY_AFTER_SECONDS) });
  },
});

// Listing and timelines are for operators: a list would hand out every job's id, and a status URL is a capability.
app.http('listJobs', {
  route: 'jobs',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = jobListQuery.safeParse(Object.fromEntries(request.query.entries()));
    if (!parsed.success) return validationProblem(fieldProblems(parsed.error.issues));
    const services = appServices();
    await services.ready();
    const listing = await listJobs(jobListingPorts(services), parsed.data);
    if (listing.outcome === 'invalid-token') {
      return validationProblem([{ field: 'continuationToken', message: listing.message }]);
    }
    const { jobs, continuationToken } = listing;
    return json(200, { jobs, ...(continuationToken ? { continuationToken } : {}) });
  },
});

app.http('getJobEvents', {
  route: 'jobs/{id}/events',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return noJob(id);
    const { jobs, ready } = appServices();
    await ready();
    if (!(await jobs.get(id))) return notFound(`no job ${id}`);
    return json(200, { id, events: await jobs.events(id) });
  },
});
