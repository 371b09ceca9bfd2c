import { createHash } from 'node:crypto';

import type { ContainerClient } from '@azure/storage-blob';

import { deadLetterId, type DeadLetterStore } from '../deadletters/deadLetterStore';
import { verifiedReplayJobId } from '../deadletters/replayMarker';
import { thumbnailUrl } from '../http/apiRoutes';
import type { JobStore } from '../jobs/jobStore';
import { isTerminal, type Job } from '../jobs/jobTypes';
import { renderThumbnails } from './renderThumbnails';
import { bareEtag, removeStaleThumbnails, SOURCE_ETAG_METADATA, SOURCE_NAME_METADATA } from './staleThumbnails';
import { ThumbnailError } from './thumbnailErrors';
import { thumbnailPath } from './thumbnailNames';

export const THUMBNAIL_JOB_TYPE = 'thumbnail';
/** Thumbnails of one blob version never change, but the name can be uploaded again: cache for a day. */
const CACHE_CONTROL = 'public, max-age=86400';
/** libvips gives up on one resize after this long, so no input can hang the worker. */
const RESIZE_TIMEOUT_SECONDS = 30;
/** Upload jobs created by `POST /api/uploads` put their blobs under `{jobId}/`. */
export const UPLOAD_JOB_PREFIX = /^(upl_[A-Za-z0-9_-]{22})\//;

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
  jobs: JobStore;
  deadLetters: DeadLetterStore;
  thumbnails: ContainerClient;
  /** The ETag of the upload's current version, undefined when it is gone. */
  currentUploadEtag: (name: string) => Promise<string | undefined>;
  widths: readonly number[];
  format: 'source' | 'webp';
  maxPixels: number;
  maxBytes: number;
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
    /** Where the caller fetches it: the app's thumbnail route, under `PUBLIC_BASE_URL` or relative. */
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

/**
 * Finds the job of this blob version, creating it when the upload did not come through `POST /api/uploads`. Only a
 * dead-letter replay binds a blob to an existing job by metadata, and only with a marker the server checks against
 * its own dead letter for this very container and name (an uploader can set metadata, so `jobid` alone is never
 * trusted); an upload through the API sits under its job id and binds to it once, for the name the job was made
 * for; any other blob gets an id derived from container, name and ETag.
 */
export async function resolveThumbnailJob(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
): Promise<{ job: Job; replay: boolean }> {
  const replayJobId = await verifiedReplayJobId(blob, (id) => services.deadLetters.get(id));
  if (replayJobId) {
    const job = await services.jobs.get(replayJobId);
    // Reopened by the replay (queued), or already bound to this version (a retried attempt of the replay).
    if (job?.type === THUMBNAIL_JOB_TYPE && (job.status === 'queued' || job.data['etag'] === blob.etag)) {
      return { job, replay: true };
    }
  }
  const uploadJobId = UPLOAD_JOB_PREFIX.exec(blob.name)?.[1];
  if (uploadJobId) {
    const job = await services.jobs.get(uploadJobId);
    const bound = job?.data['etag'];
    if (
      job?.type === THUMBNAIL_JOB_TYPE &&
      job.data['container'] === blob.container &&
      job.data['name'] === blob.name &&
      (bound === undefined || bound === blob.etag)
    ) {
      return { job, replay: false };
    }
  }
  const { job } = await services.jobs.create({
    id: thumbnailJobIdFor(blob.container, blob.name, blob.etag),
    type: THUMBNAIL_JOB_TYPE,
    data: { container: blob.container, name: blob.name, etag: blob.etag },
    event: `blob ${blob.container}/${blob.name} detected`,
  });
  return { job, replay: false };
}

/**
 * The thumbnail job for one blob version. Safe to run twice: outputs are byte-identical for the same input and are
 * overwritten in place, and a job that already succeeded for this version is not run again. The size is checked
 * before a byte is read: `readContent` is called only for an upload within the limit. Bad input fails the job for
 * good (with its code), is dead-lettered without retries, and takes the name's older thumbnails with it when this
 * is the current version; anything else is thrown for the host to retry.
 */
export async function runThumbnailJob(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  readContent: () => Promise<BlobContent>,
): Promise<{ outcome: ThumbnailOutcome; job: Job }> {
  const resolved = await resolveThumbnailJob(services, blob);
  let job = resolved.job;
  if (isTerminal(job.status) && !resolved.replay) return { outcome: 'already-done', job };
  const total = services.widths.length + 1;
  job = await services.jobs.update(job.id, (current) => ({
    status: 'running',
    reopen: resolved.replay && isTerminal(current.status),
    attemptsIncrement: 1,
    data: { container: blob.container, name: blob.name, etag: blob.etag },
    progress: { step: 'decode', index: 0, total, percent: 0, message: `decoding ${blob.name}` },
    event: { kind: 'started', message: `processing ${blob.container}/${blob.name} (${blob.contentLength} bytes)` },
  }));
  try {
    if (blob.contentLength > services.maxBytes) {
      throw new ThumbnailError(
        'BLOB_TOO_LARGE',
        `the upload is ${blob.contentLength} bytes; at most ${services.maxBytes} are accepted`,
      );
    }
    const content = await readContent();
    if (content.kind !== 'read') return await withdrawn(services, blob, job, content.kind);
    const rendered = await renderThumbnails(content.bytes, {
      widths: services.widths,
      format: services.format,
      maxInputPixels: services.maxPixels,
      timeoutSeconds: RESIZE_TIMEOUT_SECONDS,
    });
    // The sizes are written in parallel: each is its own blob, and storage latency, not CPU, dominates here.
    const thumbnails = await Promise.all(
      rendered.map(async (thumbnail, index) => {
        const requestedWidth = services.widths[index] ?? thumbnail.width;
        const path = thumbnailPath(requestedWidth, blob.name, thumbnail.contentType);
        const target = services.thumbnails.getBlockBlobClient(path);
        await target.uploadData(thumbnail.data, {
          blobHTTPHeaders: { blobContentType: thumbnail.contentType, blobCacheControl: CACHE_CONTROL },
          metadata: {
            [SOURCE_ETAG_METADATA]: bareEtag(blob.etag),
            [SOURCE_NAME_METADATA]: encodeURIComponent(blob.name),
            jobid: job.id,
          },
        });
        return {
          width: thumbnail.width,
          height: thumbnail.height,
          contentType: thumbnail.contentType,
          bytes: thumbnail.data.length,
          ...(thumbnail.frames > 1 ? { frames: thumbnail.frames } : {}),
          path: `${services.thumbnails.containerName}/${path}`,
          // Storage is private: the caller fetches the thumbnail through the app's own route.
          url: thumbnailUrl(requestedWidth, path.slice(path.indexOf('/') + 1)),
        };
      }),
    );
    const result: ThumbnailResult = {
      source: { container: blob.container, name: blob.name, etag: blob.etag },
      thumbnails,
    };
    job = await services.jobs.update(job.id, () => ({
      status: 'succeeded',
      error: null,
      result: result as unknown as Record<string, unknown>,
      progress: { step: 'done', index: total, total, percent: 100, message: `${rendered.length} thumbnails` },
      event: { kind: 'succeeded', message: `${rendered.length} thumbnails written` },
    }));
    return { outcome: 'succeeded', job };
  } catch (error) {
    if (!(error instanceof ThumbnailError)) {
      // Transient (storage, network): record it and let the host retry; the poison handler takes it from there.
      await services.jobs
        .update(job.id, () => ({
          error: { code: 'TRANSIENT', message: (error as Error).message.split('\n')[0] ?? 'failed' },
          event: { kind: 'attempt-failed', message: (error as Error).message.split('\n')[0] ?? 'failed' },
        }))
        .catch(() => undefined);
      throw error;
    }
    const failure = { code: error.code, message: error.message };
    // The name's thumbnails are an older version's: while this failing version is the current one (or the upload
    // is gone), serving them would pass them off as this upload's.
    const current = await services.currentUploadEtag(blob.name);
    const removed =
      current === undefined || current === blob.etag
        ? await removeStaleThumbnails(services.thumbnails, services.widths, blob.name)
        : [];
    job = await services.jobs.update(job.id, () => ({
      status: 'failed',
      error: failure,
      event: {
        kind: 'failed',
        message: `${error.code}: ${error.message}${removed.length > 0 ? `; ${removed.length} older thumbnail(s) removed` : ''}`,
      },
    }));
    await services.deadLetters.record({
      id: deadLetterId(`${job.id}\n${blob.etag}`, new Date(job.createdAt), 'thumbnail'),
      source: {
        kind: 'blob',
        container: blob.container,
        blobName: blob.name,
        etag: blob.etag,
        functionId: 'Host.Functions.thumbnail',
      },
      body: JSON.stringify({ ContainerName: blob.container, BlobName: blob.name, ETag: blob.etag }),
      dequeueCount: job.attempts,
      error: failure,
      jobId: job.id,
      deadLetteredAt: new Date().toISOString(),
    });
    return { outcome: 'failed', job };
  }
}

/**
 * The version went away before it was read: overwritten (its successor has a run of its own) or deleted (its
 * thumbnails go with it, unless a newer version exists). Nothing failed, so nothing is dead-lettered.
 */
async function withdrawn(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  job: Job,
  kind: 'superseded' | 'deleted',
): Promise<{ outcome: ThumbnailOutcome; job: Job }> {
  const deleted = kind === 'deleted' && (await services.currentUploadEtag(blob.name)) === undefined;
  const removed = deleted ? await removeStaleThumbnails(services.thumbnails, services.widths, blob.name) : [];
  const updated = await services.jobs.update(job.id, () => ({
    status: 'cancelled',
    error: deleted
      ? { code: 'UPLOAD_DELETED', message: 'the upload was deleted before it was processed' }
      : { code: 'UPLOAD_SUPERSEDED', message: 'a newer version of the upload replaced this one before it was read' },
    event: {
      kind: 'cancelled',
      message: deleted
        ? `upload deleted before it was processed; ${removed.length} thumbnail(s) removed`
        : 'superseded by a newer version of the upload',
    },
  }));
  return { outcome: deleted ? 'upload-deleted' : 'superseded', job: updated };
}

/** The job of a blob version known only by name and ETag (a poison message): its upload job, or the derived id. */
export async function resolveThumbnailJobId(
  jobs: JobStore,
  container: string,
  name: string,
  etag: string,
): Promise<string | undefined> {
  const uploadJobId = UPLOAD_JOB_PREFIX.exec(name)?.[1];
  if (uploadJobId) {
    const job = await jobs.get(uploadJobId);
    if (job?.data['etag'] === etag) return job.id;
  }
  const derived = thumbnailJobIdFor(container, name, etag);
  return (await jobs.get(derived)) ? derived : undefined;
}
