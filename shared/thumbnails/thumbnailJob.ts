import { createHash } from 'node:crypto';

import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import type { DeadLetterStore } from '../deadletters/deadLetterStore';
import { verifiedReplayJobId } from '../deadletters/replayMarker';
import { thumbnailUrl } from '../http/apiRoutes';
import { defineJob } from '../jobs/jobDefinition';
import { JobCancelledError } from '../jobs/jobErrors';
import type { JobRuntime } from '../jobs/jobRuntime';
import type { Job, JobError } from '../jobs/jobTypes';
import { renderThumbnails } from './renderThumbnails';
import { bareEtag, removeStaleThumbnails, SOURCE_ETAG_METADATA, SOURCE_NAME_METADATA } from './staleThumbnails';
import { REVALIDATE_CACHE_CONTROL, thumbnailVersion } from './thumbnailCaching';
import { ThumbnailError } from './thumbnailErrors';
import { thumbnailPath } from './thumbnailNames';
import { writeVersionThumbnails } from './thumbnailWrites';
import { readUploadVersion } from './uploadVersions';

export const THUMBNAIL_JOB_TYPE = 'thumbnail';
/** libvips gives up on one resize after this long, so no input can hang the worker. */
const RESIZE_TIMEOUT_SECONDS = 30;
/** Upload jobs created by `POST /api/uploads` put their blobs under `{jobId}/`. */
/** The code a job gets when its upload was deleted before it was read. */
const UPLOAD_DELETED = 'UPLOAD_DELETED';
/** The id prefix of the jobs `POST /api/uploads` creates (`upl_…`). */
export const UPLOAD_JOB_ID_PREFIX = 'upl';
export const UPLOAD_JOB_PREFIX = new RegExp(`^(${UPLOAD_JOB_ID_PREFIX}_[A-Za-z0-9_-]{22})/`);

/** The uploaded blob version the job works on. */
export interface UploadedBlob {
  container: string;
  name: string;
  etag: string;
  contentLength: number;
  /** User metadata; a dead-letter replay sets its marker here (see replayMarker.ts). Uploaders can set it too. */
  metadata: Record<string, string>;
}

/** One blob version's bytes, or why they could not be read. */
export type BlobContent = { kind: 'read'; bytes: Buffer } | { kind: 'superseded' } | { kind: 'deleted' };

export interface ThumbnailJobServices {
  runtime: JobRuntime;
  /** Dead letters by id: a replay's marker is checked against its own dead letter. */
  deadLetters: Pick<DeadLetterStore, 'get'>;
  /** Where the uploads are: a version is read from here unless the caller reads it (`runThumbnailJob`). */
  uploads: ContainerClient;
  thumbnails: ContainerClient;
  /** The ETag of the upload's current version, undefined when it is gone. */
  currentUploadEtag: (name: string) => Promise<string | undefined>;
  widths: readonly number[];
  format: 'source' | 'webp';
  maxPixels: number;
  maxBytes: number;
  /**
   * Whether a run reads its job before it renders. With the polling source, a host whose receipts are lost (a new
   * host id, a cleared container: azure-functions-host#5503) hands over every blob again, and the read turns each
   * into a skip instead of a render. Event Grid raises an event once per upload, bar a rare duplicate that the
   * writes make harmless (thumbnailWrites.ts), so there the read is saved: the job is written once, when it ends.
   */
  readJobFirst: boolean;
}

export interface ThumbnailResult {
  source: { container: string; name: string; etag: string };
  thumbnails: {
    width: number;
    height: number;
    contentType: string;
    bytes: number;
    /** Animation frames kept, when more than one. */
    frames?: number;
    /** `{container}/{width}/{thumbnail name}` in storage (see thumbnailNames.ts). */
    path: string;
    /**
     * Where the caller fetches it: the app's thumbnail route, under `PUBLIC_BASE_URL` or relative, with `?v=` naming
     * this upload version (cached for good; an old version's URL redirects to the current one).
     */
    url: string;
  }[];
}

/** A job id derived from the blob version: a redelivered trigger for the same version finds the same job. */
export function thumbnailJobIdFor(container: string, name: string, etag: string): string {
  const hash = createHash('sha256').update(`${container}\n${name}\n${etag}`).digest('base64url').slice(0, 22);
  return `thm_${hash}`;
}

/** What became of one blob version's job. */
export type ThumbnailOutcome = 'succeeded' | 'already-done' | 'failed' | 'superseded' | 'upload-deleted';

/** What a thumbnail job keeps: the upload it works on (the ETag once a version arrived). */
export const thumbnailDataSchema = z.object({
  container: z.string(),
  name: z.string(),
  etag: z.string().optional(),
  contentType: z.string().optional(),
});
export type ThumbnailData = z.infer<typeof thumbnailDataSchema>;

export const thumbnailResultSchema = z.object({
  source: z.object({ container: z.string(), name: z.string(), etag: z.string() }),
  thumbnails: z.array(
    z.object({
      width: z.number(),
      height: z.number(),
      contentType: z.string(),
      bytes: z.number(),
      frames: z.number().optional(),
      path: z.string(),
      url: z.string(),
    }),
  ),
});

/**
 * The thumbnail job on the runtime. Its `run` is bound per blob version (`runThumbnailJob`): the version comes from
 * the trigger, not from the job's data.
 */
export const thumbnailJob = defineJob<ThumbnailData, ThumbnailResult>({
  type: THUMBNAIL_JOB_TYPE,
  data: thumbnailDataSchema,
  result: thumbnailResultSchema,
});

/**
 * Finds the job of this blob version (its id only when the upload did not come through `POST /api/uploads`: that
 * job is created by the attempt that runs it). Only a
 * dead-letter replay binds a blob to an existing job by metadata, and only with a marker the server checks against
 * its own dead letter for this very container and name (an uploader can set metadata, so `jobid` alone is never
 * trusted); an upload through the API sits under its job id and binds to it once, for the name the job was made
 * for; any other blob gets an id derived from container, name and ETag.
 */
export async function resolveThumbnailJob(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
): Promise<{ id: string; job?: Job; replay: boolean }> {
  const replayed = await replayJobOf(services, blob);
  if (replayed) return { id: replayed.id, job: replayed, replay: true };
  const job = await uploadJobOf(services.runtime, blob.container, blob.name, blob.etag);
  if (job) return { id: job.id, job, replay: false };
  // Any other blob: the job is created by the attempt that runs it (see runThumbnailJob).
  return { id: thumbnailJobIdFor(blob.container, blob.name, blob.etag), replay: false };
}

/** The job a dead-letter replay bound this blob version to, by the marker it set (verified), or undefined. */
async function replayJobOf(
  services: Pick<ThumbnailJobServices, 'runtime' | 'deadLetters'>,
  blob: Pick<UploadedBlob, 'container' | 'name' | 'etag' | 'metadata'>,
): Promise<Job | undefined> {
  const replayJobId = await verifiedReplayJobId(blob, (id) => services.deadLetters.get(id));
  if (!replayJobId) return undefined;
  const job = await services.runtime.readAny(replayJobId);
  // Reopened by the replay (queued), or already bound to this version (a retried attempt of the replay).
  return job?.type === THUMBNAIL_JOB_TYPE && (job.status === 'queued' || job.data['etag'] === blob.etag)
    ? job
    : undefined;
}

/** The user metadata of the upload `name` while it is still the version `etag`; undefined once it is not. */
async function metadataOfVersion(
  uploads: ContainerClient,
  name: string,
  etag: string,
): Promise<Record<string, string> | undefined> {
  try {
    const ifMatch = etag.startsWith('"') ? etag : `"${etag}"`;
    return (await uploads.getBlobClient(name).getProperties({ conditions: { ifMatch } })).metadata ?? {};
  } catch (error) {
    // Gone (404) or replaced (412): a later version's metadata says nothing of this one.
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404 || status === 412) return undefined;
    throw error;
  }
}

/**
 * The upload job (`POST /api/uploads`) this blob version belongs to: the job its name sits under, made for this
 * container and name, and bound to this version or to none yet (its first attempt binds it).
 */
async function uploadJobOf(
  runtime: JobRuntime,
  container: string,
  name: string,
  etag: string,
): Promise<Job | undefined> {
  const uploadJobId = UPLOAD_JOB_PREFIX.exec(name)?.[1];
  if (!uploadJobId) return undefined;
  const job = await runtime.readAny(uploadJobId);
  const bound = job?.data['etag'];
  return job?.type === THUMBNAIL_JOB_TYPE &&
    job.data['container'] === container &&
    job.data['name'] === name &&
    (bound === undefined || bound === etag)
    ? job
    : undefined;
}

/** One attempt's work: size check before a byte is read, then read, render, upload the sizes. */
async function renderAndUpload(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  readContent: () => Promise<BlobContent>,
  jobId: string,
): Promise<ThumbnailResult> {
  if (blob.contentLength > services.maxBytes) {
    throw new ThumbnailError(
      'BLOB_TOO_LARGE',
      `the upload is ${blob.contentLength} bytes; at most ${services.maxBytes} are accepted`,
    );
  }
  const content = await readContent();
  if (content.kind !== 'read') throw await withdrawn(services, blob, content.kind, 'read');
  const rendered = await renderThumbnails(content.bytes, {
    widths: services.widths,
    format: services.format,
    maxInputPixels: services.maxPixels,
    timeoutSeconds: RESIZE_TIMEOUT_SECONDS,
  });
  const toWrite = rendered.map((thumbnail, index) => {
    const requestedWidth = services.widths[index] ?? thumbnail.width;
    return { requestedWidth, thumbnail, path: thumbnailPath(requestedWidth, blob.name, thumbnail.contentType) };
  });
  const written = await writeVersionThumbnails(
    services.thumbnails,
    toWrite.map(({ path, thumbnail }) => ({ path, data: thumbnail.data, contentType: thumbnail.contentType })),
    {
      sourceEtag: blob.etag,
      metadata: {
        [SOURCE_ETAG_METADATA]: bareEtag(blob.etag),
        [SOURCE_NAME_METADATA]: encodeURIComponent(blob.name),
        jobid: jobId,
      },
      // The blob's own URL names no version (storage is private; the route sets its own caching).
      cacheControl: REVALIDATE_CACHE_CONTROL,
      currentUploadEtag: () => services.currentUploadEtag(blob.name),
    },
  );
  if (written.kind === 'superseded') {
    throw await withdrawn(services, blob, written.currentEtag === undefined ? 'deleted' : 'superseded', 'rendered');
  }
  const thumbnails = toWrite.map(({ requestedWidth, thumbnail, path }) => ({
    width: thumbnail.width,
    height: thumbnail.height,
    contentType: thumbnail.contentType,
    bytes: thumbnail.data.length,
    ...(thumbnail.frames > 1 ? { frames: thumbnail.frames } : {}),
    path: `${services.thumbnails.containerName}/${path}`,
    // Storage is private: the caller fetches the thumbnail through the app's own route, at this version's URL.
    url: thumbnailUrl(requestedWidth, path.slice(path.indexOf('/') + 1), thumbnailVersion(blob.etag)),
  }));
  return { source: { container: blob.container, name: blob.name, etag: blob.etag }, thumbnails };
}

/**
 * After bad input failed the job for good: the name's thumbnails are an older version's, so while this failing
 * version is the current one (or the upload is gone) they go; then the failure is dead-lettered (blob source, so a
 * replay retriggers the blob).
 */
async function afterPermanentFailure(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  job: Job<ThumbnailData, ThumbnailResult>,
  error: JobError,
): Promise<void> {
  const current = await services.currentUploadEtag(blob.name);
  const removed =
    current === undefined || current === blob.etag
      ? await removeStaleThumbnails(services.thumbnails, services.widths, blob.name)
      : [];
  if (removed.length > 0) {
    await services.runtime.update(
      thumbnailJob,
      job.id,
      () => ({ event: { kind: 'thumbnails-removed', message: `${removed.length} older thumbnail(s) removed` } }),
      job,
    );
  }
  await services.runtime.recordFailureAsDeadLetter({
    job,
    source: {
      kind: 'blob',
      container: blob.container,
      blobName: blob.name,
      etag: blob.etag,
      functionId: 'Host.Functions.thumbnail',
    },
    body: JSON.stringify({ ContainerName: blob.container, BlobName: blob.name, ETag: blob.etag }),
    sourceName: 'thumbnail',
    key: `${job.id}\n${blob.etag}`,
    error,
  });
}

/**
 * The thumbnail job for one blob version, run by the job runtime. Safe to run twice: outputs are byte-identical for
 * the same input and are overwritten in place, and a job that already succeeded for this version is not run again
 * (a verified replay reopens it). The size is checked before a byte is read: `readContent` is called only for an
 * upload within the limit. Bad input (`ThumbnailError`, a `PermanentJobError`) fails the job for good with its code,
 * is dead-lettered without retries, and takes the name's older thumbnails with it when this is the current
 * version; a version gone before it was read, or replaced before its thumbnails were written (see thumbnailWrites.ts:
 * an older version never replaces a newer one's thumbnails), ends the job `cancelled`; anything else is recorded and
 * thrown for the host to retry.
 */
export async function runThumbnailJob(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  readContent: () => Promise<BlobContent> = () =>
    readUploadVersion(services.uploads, blob.name, blob.etag, blob.contentLength),
): Promise<{ outcome: ThumbnailOutcome; job: Job }> {
  const resolved = await resolveThumbnailJob(services, blob);
  const total = services.widths.length + 1;
  const executed = await services.runtime.execute(
    {
      ...thumbnailJob,
      run: (job) => renderAndUpload(services, blob, readContent, job.id),
      onPermanentFailure: (job, error) => afterPermanentFailure(services, blob, job, error),
    },
    resolved.id,
    {
      ...(resolved.job
        ? { job: resolved.job }
        : {
            create: {
              data: { container: blob.container, name: blob.name, etag: blob.etag },
              event: `blob ${blob.container}/${blob.name} detected`,
              // A run again renders the same bytes, and leaves thumbnails already there as they are.
              rerunnable: !services.readJobFirst,
            },
          }),
      reopen: resolved.replay,
      start: {
        data: { container: blob.container, name: blob.name, etag: blob.etag },
        progress: { step: 'decode', index: 0, total, percent: 0, message: `decoding ${blob.name}` },
        event: { kind: 'started', message: `processing ${blob.container}/${blob.name} (${blob.contentLength} bytes)` },
      },
      describe: (result) => `${result.thumbnails.length} thumbnails written`,
    },
  );
  switch (executed.outcome) {
    case 'unknown-job':
      throw new Error(`thumbnail job ${resolved.id} vanished while it ran`);
    case 'already-finished':
      return { outcome: 'already-done', job: executed.job as unknown as Job };
    case 'succeeded':
    case 'failed':
      return { outcome: executed.outcome, job: executed.job as unknown as Job };
    case 'cancelled':
      return {
        outcome: executed.error.code === UPLOAD_DELETED ? 'upload-deleted' : 'superseded',
        job: executed.job as unknown as Job,
      };
    default: {
      const never: never = executed;
      throw new Error(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The version went away before it was read, or before its thumbnails were written: overwritten (its successor has a
 * run of its own, and the name's thumbnails are left to it) or deleted (its thumbnails go with it, unless a newer
 * version exists). Nothing failed: the job ends `cancelled`, not dead-lettered.
 */
async function withdrawn(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  kind: 'superseded' | 'deleted',
  before: 'read' | 'rendered',
): Promise<JobCancelledError> {
  const when = before === 'read' ? 'before it was read' : 'before its thumbnails were written';
  const deleted = kind === 'deleted' && (await services.currentUploadEtag(blob.name)) === undefined;
  const removed = deleted ? await removeStaleThumbnails(services.thumbnails, services.widths, blob.name) : [];
  return deleted
    ? new JobCancelledError(UPLOAD_DELETED, `the upload was deleted ${when}; ${removed.length} thumbnail(s) removed`)
    : new JobCancelledError('UPLOAD_SUPERSEDED', `a newer version of the upload replaced this one ${when}`);
}

/**
 * The job of a blob version known only by name and ETag (a poison message), as the trigger binds it (see
 * `resolveThumbnailJob`): the job a replay reopened (its marker read from the version while it is current), its upload
 * job, or the job of the derived id. A version whose every attempt ended with its host before it wrote the job
 * (within the grace, see attemptWrites.ts) has none yet: it is made here, so that its failure is recorded on a job
 * like any other's.
 */
export async function thumbnailJobOfPoisonedBlob(
  services: Pick<ThumbnailJobServices, 'runtime' | 'deadLetters' | 'uploads'>,
  container: string,
  name: string,
  etag: string,
): Promise<string> {
  const { runtime } = services;
  // A replay's version (its blob copied onto itself with the replay's marker): the job the replay reopened.
  const metadata = await metadataOfVersion(services.uploads, name, etag);
  const replayed = metadata ? await replayJobOf(services, { container, name, etag, metadata }) : undefined;
  if (replayed) return replayed.id;
  // Bound to this version, or to none: every attempt failed before its first write, and the caller polling the upload
  // job would otherwise see it wait for ever.
  const upload = await uploadJobOf(runtime, container, name, etag);
  if (upload) return upload.id;
  const derived = thumbnailJobIdFor(container, name, etag);
  if (!(await runtime.readAny(derived))) {
    await runtime.create(thumbnailJob, {
      id: derived,
      data: { container, name, etag },
      event: `blob ${container}/${name} poisoned before an attempt wrote its job`,
    });
  }
  return derived;
}
