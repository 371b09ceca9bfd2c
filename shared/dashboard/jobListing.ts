import { z } from 'zod';

import type { AppServices } from '../appServices';
import { InvalidContinuationTokenError, isJobListToken } from '../jobs/jobIndex';
import { jobToPublic } from '../jobs/jobStore';
import { type Job, JOB_STATUSES, type JobStatus } from '../jobs/jobTypes';
import { findThumbnailJobOfBlob } from '../thumbnails/findBlobJob';
import { jobLabel } from './jobLabel';

/** `source=uploads/{name}`: the blob whose job is wanted, named as the README shows it. */
const UPLOADS_SOURCE = /^uploads\/(.+)$/;

/** The query of `GET /api/jobs`: filters, page size and token, or the uploaded blob whose job is wanted. */
export const jobListQuery = z.object({
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
export type JobListQuery = z.infer<typeof jobListQuery>;

/** A listed job: the public view and the label a person knows it by. */
export type ListedJob = ReturnType<typeof jobToPublic> & { label: string };

/** The job store and the blob lookup, as the listing uses them. */
export interface JobListingPorts {
  list(query: {
    type?: string;
    status?: JobStatus;
    limit?: number;
    continuationToken?: string;
  }): Promise<{ jobs: Job[]; continuationToken?: string }>;
  /** The thumbnail job of the blob `name` in the uploads container, if it has one. */
  findJobOfUpload(name: string): Promise<Job | undefined>;
}

export type JobListing =
  | { outcome: 'listed'; jobs: ListedJob[]; continuationToken?: string }
  /** The token looked right but the index no longer knows it. */
  | { outcome: 'invalid-token'; message: string };

function listed(job: Job): ListedJob {
  return { ...jobToPublic(job), label: jobLabel(job) };
}

/**
 * Lists jobs newest first, a page at a time, filtered by type and status; with `source`, the one job of that
 * uploaded blob (when it passes the filters) instead.
 */
export async function listJobs(ports: JobListingPorts, query: JobListQuery): Promise<JobListing> {
  const blobName = query.source ? UPLOADS_SOURCE.exec(query.source)?.[1] : undefined;
  if (blobName !== undefined) {
    const job = await ports.findJobOfUpload(blobName);
    const matches = job && (!query.type || job.type === query.type) && (!query.status || job.status === query.status);
    return { outcome: 'listed', jobs: matches ? [listed(job)] : [] };
  }
  let page;
  try {
    page = await ports.list({
      ...(query.type ? { type: query.type } : {}),
      ...(query.status ? { status: query.status as JobStatus } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
      ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
    });
  } catch (error) {
    if (!(error instanceof InvalidContinuationTokenError)) throw error;
    return { outcome: 'invalid-token', message: error.message };
  }
  return {
    outcome: 'listed',
    jobs: page.jobs.map(listed),
    ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
  };
}

/** {@link JobListingPorts} on the app's job store and uploads container. */
export function jobListingPorts(services: Pick<AppServices, 'jobs' | 'storage' | 'names'>): JobListingPorts {
  const uploads = services.storage.blobs.getContainerClient(services.names.containers.uploads);
  return {
    list: (query) => services.jobs.list(query),
    findJobOfUpload: (name) => findThumbnailJobOfBlob(services.jobs, uploads, name),
  };
}
