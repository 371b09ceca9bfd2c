import { createHash } from 'node:crypto';

import type { ContainerClient } from '@azure/storage-blob';

import { deadLetterId, type DeadLetterStore } from '../deadletters/deadLetterStore';
import type { JobStore } from '../jobs/jobStore';
import { isTerminal, type Job } from '../jobs/jobTypes';
import { renderThumbnails } from './renderThumbnails';
import { ThumbnailError } from './thumbnailErrors';

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
  /** User metadata; `jobid` is set by a dead-letter replay so the retrigger finds its job. */
  metadata: Record<string, string>;
}

export interface ThumbnailJobServices {
  jobs: JobStore;
  deadLetters: DeadLetterStore;
  thumbnails: ContainerClient;
  widths: readonly number[];
  format: 'source' | 'webp';
  maxPixels: number;
  maxBytes: number;
}

export interface ThumbnailResult {
  source: { container: string; name: string; etag: string };
  thumbnails: { width: number; height: number; contentType: string; bytes: number; path: string; url: string }[];
}

/** A job id derived from the blob version: a redelivered trigger for the same version finds the same job. */
export function thumbnailJobIdFor(container: string, name: string, etag: string): string {
  const hash = createHash('sha256').update(`${container}\n${name}\n${etag}`).digest('base64url').slice(0, 22);
  return `thm_${hash}`;
}

/** `thumbnails/{width}/{name}`: the upload's own name, under its width. */
export function thumbnailPath(width: number, name: string): string {
  return `${width}/${name}`;
}

/**
 * Finds the job of this blob version, creating it when the upload did not come through `POST /api/uploads`: a replay
 * names its job in metadata; an upload through the API sits under its job id; any other blob gets an id derived from
 * container, name and ETag.
 */
export async function resolveThumbnailJob(services: ThumbnailJobServices, blob: UploadedBlob): Promise<Job> {
  const candidates = [blob.metadata['jobid'], UPLOAD_JOB_PREFIX.exec(blob.name)?.[1]].filter(
    (id): id is string => typeof id === 'string' && id.length > 0,
  );
  for (const id of candidates) {
    const job = await services.jobs.get(id);
    if (!job || job.type !== THUMBNAIL_JOB_TYPE) continue;
    const bound = job.data['etag'];
    if (bound === undefined || bound === blob.etag || blob.metadata['jobid'] === id) return job;
  }
  const { job } = await services.jobs.create({
    id: thumbnailJobIdFor(blob.container, blob.name, blob.etag),
    type: THUMBNAIL_JOB_TYPE,
    data: { container: blob.container, name: blob.name, etag: blob.etag },
    event: `blob ${blob.container}/${blob.name} detected`,
  });
  return job;
}

/**
 * The thumbnail job for one blob version. Safe to run twice: outputs are byte-identical for the same input and are
 * overwritten in place, and a job that already succeeded for this version is not run again. Bad input fails the job
 * for good (with its code) and is dead-lettered without retries; anything else is thrown for the host to retry.
 */
export async function runThumbnailJob(
  services: ThumbnailJobServices,
  blob: UploadedBlob,
  content: Buffer,
): Promise<{ outcome: 'succeeded' | 'already-done' | 'failed'; job: Job }> {
  let job = await resolveThumbnailJob(services, blob);
  const isReplay = blob.metadata['jobid'] === job.id && job.data['etag'] !== blob.etag;
  if (isTerminal(job.status) && !isReplay) return { outcome: 'already-done', job };
  const total = services.widths.length + 1;
  job = await services.jobs.update(job.id, (current) => ({
    status: 'running',
    reopen: isReplay && isTerminal(current.status),
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
    const rendered = await renderThumbnails(content, {
      widths: services.widths,
      format: services.format,
      maxInputPixels: services.maxPixels,
      timeoutSeconds: RESIZE_TIMEOUT_SECONDS,
    });
    // The sizes are written in parallel: each is its own blob, and storage latency, not CPU, dominates here.
    const thumbnails = await Promise.all(
      rendered.map(async (thumbnail, index) => {
        const requestedWidth = services.widths[index] ?? thumbnail.width;
        const path = thumbnailPath(requestedWidth, blob.name);
        const target = services.thumbnails.getBlockBlobClient(path);
        await target.uploadData(thumbnail.data, {
          blobHTTPHeaders: { blobContentType: thumbnail.contentType, blobCacheControl: CACHE_CONTROL },
          metadata: { sourceetag: blob.etag.replace(/"/g, ''), jobid: job.id },
        });
        return {
          width: thumbnail.width,
          height: thumbnail.height,
          contentType: thumbnail.contentType,
          bytes: thumbnail.data.length,
          path: `${services.thumbnails.containerName}/${path}`,
          url: target.url,
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
    job = await services.jobs.update(job.id, () => ({
      status: 'failed',
      error: failure,
      event: { kind: 'failed', message: `${error.code}: ${error.message}` },
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
