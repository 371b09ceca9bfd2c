import { Readable } from 'node:stream';

import type { HttpResponseInit } from '@azure/functions';
import type { ContainerClient } from '@azure/storage-blob';

import { RETRY_AFTER_SECONDS } from '../http/apiRoutes';
import { notFound, problem } from '../http/problem';
import type { JobRuntime } from '../jobs/jobRuntime';
import { isTerminal } from '../jobs/jobTypes';
import { exportBlobName } from './exportBlob';
import { contentTypeOf } from './exportFormats';
import type { ExportJob } from './exportJob';

/**
 * The response for `GET /api/exports/{id}/file`: the finished file, streamed from storage (the worker buffers it
 * unless HTTP streaming is on; the period's bound keeps it modest); 409 while the export runs or after it failed.
 * The route is admin-only and no storage URL is handed out: the job's status (anonymous, listed) never carries a
 * key to the file.
 */
export async function downloadExport(
  services: { runtime: JobRuntime; job: ExportJob; exports: ContainerClient },
  jobId: string,
): Promise<HttpResponseInit> {
  const job = await services.runtime.read(services.job, jobId).catch(() => undefined);
  if (!job) return notFound(`no export ${jobId}`);
  if (job.status !== 'succeeded') {
    const running = !isTerminal(job.status);
    const refusal = problem(
      409,
      running ? 'export-not-ready' : 'export-failed',
      running ? 'The export is not finished' : 'The export did not finish',
      running ? `the export is ${job.status}` : `the export ${job.status}${job.error ? `: ${job.error.code}` : ''}`,
      { jobId: job.id, status: job.status },
    );
    return running
      ? { ...refusal, headers: { ...refusal.headers, 'retry-after': String(RETRY_AFTER_SECONDS) } }
      : refusal;
  }
  const name = exportBlobName(job.id, job.data.format);
  let download;
  try {
    download = await services.exports.getBlobClient(name).download();
  } catch (error) {
    // The file was deleted after the job succeeded (by hand, or a retention rule on the container).
    if ((error as { statusCode?: number }).statusCode === 404) return notFound(`the file of export ${jobId} is gone`);
    throw error;
  }
  if (!download.readableStreamBody) return notFound(`the file of export ${jobId} is gone`);
  return {
    status: 200,
    headers: {
      'content-type': contentTypeOf(job.data.format),
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
    },
    body: Readable.from(download.readableStreamBody),
  };
}
