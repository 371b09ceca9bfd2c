import type { ContainerClient } from '@azure/storage-blob';

import type { JobStore } from '../jobs/jobStore';
import type { Job } from '../jobs/jobTypes';
import { THUMBNAIL_JOB_TYPE, thumbnailJobIdFor, UPLOAD_JOB_PREFIX } from './thumbnailJob';

/**
 * The thumbnail job of the blob now stored under `name`, however it was uploaded: a dead-letter replay names its
 * job in metadata, an upload through `POST /api/uploads` sits under its job id, and any other upload (Azure CLI,
 * Storage Explorer) has the id derived from container, name and ETag. Undefined when the blob does not exist or its
 * job has not been created yet (the blob trigger has not seen it).
 */
export async function findThumbnailJobOfBlob(
  jobs: JobStore,
  uploads: ContainerClient,
  name: string,
): Promise<Job | undefined> {
  let properties;
  try {
    properties = await uploads.getBlobClient(name).getProperties();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
  const candidates = [
    properties.metadata?.['jobid'],
    UPLOAD_JOB_PREFIX.exec(name)?.[1],
    properties.etag ? thumbnailJobIdFor(uploads.containerName, name, properties.etag) : undefined,
  ];
  for (const id of candidates) {
    if (!id) continue;
    const job = await jobs.get(id);
    if (job?.type === THUMBNAIL_JOB_TYPE) return job;
  }
  return undefined;
}
