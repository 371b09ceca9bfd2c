import type { JobStatusPort } from '../jobs/jobPorts';
import { THUMBNAIL_JOB_TYPE } from '../thumbnails/thumbnailJob';
import type { UploadRequest } from './uploadRequest';

/** Clock skew between client and storage tolerated: the SAS is valid from this long before it was signed. */
const CLOCK_SKEW_MS = 60_000;

/** What authorising an upload needs, as small functions (storage in production, fakes in the unit tests). */
export interface UploadPorts {
  /** The container uploads land in (the thumbnail trigger's). */
  container: string;
  /** SAS URL lifetime in milliseconds. */
  sasLifetimeMs: number;
  /** The largest upload accepted, in bytes (the thumbnail job refuses larger blobs). */
  maxBytes: number;
  newJobId(): string;
  /** A URL that allows creating and writing exactly this blob, with this content type, in this window. */
  signUploadUrl(blobName: string, contentType: string, startsOn: Date, expiresOn: Date): Promise<string>;
  jobs: Pick<JobStatusPort, 'create'>;
}

/** An authorised upload: where to `PUT` the bytes, and the job that runs when they land. */
export interface AuthorisedUpload {
  jobId: string;
  container: string;
  blobName: string;
  contentType: string;
  url: string;
  expiresAt: Date;
  maxBytes: number;
}

/**
 * The valet-key pattern: signs a short-lived URL that allows writing exactly one blob (`{jobId}/{fileName}`) and
 * creates its thumbnail job, waiting for the upload. The job runs when the blob lands.
 */
export async function authoriseUpload(
  ports: UploadPorts,
  request: UploadRequest,
  now: Date,
): Promise<AuthorisedUpload> {
  const jobId = ports.newJobId();
  const blobName = `${jobId}/${request.fileName}`;
  const expiresAt = new Date(now.getTime() + ports.sasLifetimeMs);
  const url = await ports.signUploadUrl(
    blobName,
    request.contentType,
    new Date(now.getTime() - CLOCK_SKEW_MS),
    expiresAt,
  );
  await ports.jobs.create({
    id: jobId,
    type: THUMBNAIL_JOB_TYPE,
    data: { container: ports.container, name: blobName, contentType: request.contentType },
    progress: { step: 'awaiting-upload', index: 0, total: 1, percent: 0, message: 'waiting for the upload' },
    event: `upload of ${request.fileName} authorised until ${expiresAt.toISOString()}`,
  });
  return {
    jobId,
    container: ports.container,
    blobName,
    contentType: request.contentType,
    url,
    expiresAt,
    maxBytes: ports.maxBytes,
  };
}
