import { app } from '@azure/functions';
import { z } from 'zod';

import { appServices } from '../shared/appServices';
import { jobLabel } from '../shared/dashboard/jobLabel';
import { RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound, validationProblem } from '../shared/http/problem';
import { fieldProblems } from '../shared/http/requestBody';
import { InvalidContinuationTokenError, isJobListToken } from '../shared/jobs/jobIndex';
import { isValidJobId, jobToPublic } from '../shared/jobs/jobStore';
import { isTerminal, type Job, JOB_STATUSES } from '../shared/jobs/jobTypes';
import { findThumbnailJobOfBlob } from '../shared/thumbnails/findBlobJob';

/** `source=uploads/{name}`: the blob whose job is wanted, named as the README shows it. */
const UPLOADS_SOURCE = /^uploads\/(.+)$/;

const listQuery = z.object({
  type: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a job type such as thumbnail, order or nightly')
    .optional(),
  status: z.enum(JOB_STATUSES as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  continuationToken: z
    .string()
    .min(1)
    .max(2000)
    .refine(isJobListToken, 'must be a continuationToken returned by the previous page')
    .optional(),
  source: z
    .string()
    .max(1100)
    .regex(UPLOADS_SOURCE, 'must be uploads/{blob name}, the blob whose thumbnail job is wanted')
    .optional(),
});

/** A listed job: the public view and the label a person knows it by. */
function listed(job: Job): ReturnType<typeof jobToPublic> & { label: string } {
  return { ...jobToPublic(job), label: jobLabel(job) };
}

app.http('getJob', {
  route: 'jobs/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no job ${JSON.stringify(id.slice(0, 100))}`);
    const { jobs, ready } = appServices();
    await ready();
    const job = await jobs.get(id);
    if (!job) return notFound(`no job ${id}`);
    const headers: Record<string, string> = isTerminal(job.status)
      ? {}
      : { 'retry-after': String(RETRY_AFTER_SECONDS) };
    return json(200, jobToPublic(job), headers);
  },
});

// Listing and timelines are for operators: a list would hand out every job's id, and a status URL is a capability.
app.http('listJobs', {
  route: 'jobs',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = listQuery.safeParse(Object.fromEntries(request.query.entries()));
    if (!parsed.success) return validationProblem(fieldProblems(parsed.error.issues));
    const { jobs, ready, storage, names } = appServices();
    await ready();
    const blobName = parsed.data.source ? UPLOADS_SOURCE.exec(parsed.data.source)?.[1] : undefined;
    if (blobName !== undefined) {
      const uploads = storage.blobs.getContainerClient(names.containers.uploads);
      const job = await findThumbnailJobOfBlob(jobs, uploads, blobName);
      const matches =
        job &&
        (!parsed.data.type || job.type === parsed.data.type) &&
        (!parsed.data.status || job.status === parsed.data.status);
      return json(200, { jobs: matches ? [listed(job)] : [] });
    }
    let page;
    try {
      page = await jobs.list({
        ...(parsed.data.type ? { type: parsed.data.type } : {}),
        ...(parsed.data.status ? { status: parsed.data.status as (typeof JOB_STATUSES)[number] } : {}),
        ...(parsed.data.limit ? { limit: parsed.data.limit } : {}),
        ...(parsed.data.continuationToken ? { continuationToken: parsed.data.continuationToken } : {}),
      });
    } catch (error) {
      if (!(error instanceof InvalidContinuationTokenError)) throw error;
      return validationProblem([{ field: 'continuationToken', message: error.message }]);
    }
    return json(200, {
      jobs: page.jobs.map(listed),
      ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
    });
  },
});

app.http('getJobEvents', {
  route: 'jobs/{id}/events',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no job ${JSON.stringify(id.slice(0, 100))}`);
    const { jobs, ready } = appServices();
    await ready();
    if (!(await jobs.get(id))) return notFound(`no job ${id}`);
    return json(200, { id, events: await jobs.events(id) });
  },
});
