import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import { deadLetterId, type DeadLetterStore } from '../deadletters/deadLetterStore';
import type { JobStore } from '../jobs/jobStore';
import { isTerminal, type Job } from '../jobs/jobTypes';
import type { QueueSender } from '../workflow/queueSender';
import { exportFile } from './exportBlob';
import { type ExportCheckpoint, exportCheckpointSchema } from './exportCheckpoint';
import { ExportError } from './exportErrors';
import { daysOf, EXPORT_FORMATS, type ExportRequest } from './exportRequest';
import type { OrderPages } from './orderPages';
import { type ExportFileResult, type ExportProgress, runExport } from './runExport';

export const EXPORT_JOB_TYPE = 'export';
export const EXPORT_JOB_ID_PREFIX = 'exp';

/** The job's private data: the validated request, where the file will be downloaded, and the checkpoint. */
export const exportJobDataSchema = z.object({
  from: z.string(),
  to: z.string(),
  format: z.enum(EXPORT_FORMATS),
  downloadUrl: z.string(),
  checkpoint: exportCheckpointSchema.optional(),
});
export type ExportJobData = z.infer<typeof exportJobDataSchema>;

/** The queue message: only the job id; everything else is in the job. */
export const exportMessageSchema = z.object({ jobId: z.string().regex(/^exp_[A-Za-z0-9_-]{22}$/) }).strict();
export type ExportMessage = z.infer<typeof exportMessageSchema>;

/** The job's result: the file, and how to download it (admin only: it holds customers' orders). */
export interface ExportJobResult extends ExportFileResult {
  download: { url: string; method: 'GET'; authLevel: 'admin' };
}

export interface ExportServices {
  jobs: JobStore;
  deadLetters: DeadLetterStore;
  orders: OrderPages;
  /** The `exports` container (with `RESOURCE_PREFIX`). */
  exports: ContainerClient;
  sender: QueueSender;
  /** The export queue's name. */
  queue: string;
  log?: (line: string) => void;
}

/** `GET /api/exports/{jobId}/file` under the API's origin. */
export function exportDownloadUrl(origin: string, jobId: string): string {
  return new URL(`/api/exports/${encodeURIComponent(jobId)}/file`, origin).toString();
}

/** Creates the export job and queues it. The job exists before the message, so its status URL answers at once. */
export async function startExport(
  services: Pick<ExportServices, 'jobs' | 'sender' | 'queue'>,
  request: ExportRequest,
  jobId: string,
  apiOrigin: string,
): Promise<Job> {
  const data: ExportJobData = { ...request, downloadUrl: exportDownloadUrl(apiOrigin, jobId) };
  const { job, created } = await services.jobs.create({
    id: jobId,
    type: EXPORT_JOB_TYPE,
    data,
    progress: { step: 'queued', index: 0, total: 1, percent: 0, message: 'queued' },
    event: `${request.format} export of the orders finished ${request.from} to ${request.to}`,
  });
  if (created) await services.sender.send(services.queue, { jobId } satisfies ExportMessage);
  return job;
}

function progressUpdate(progress: ExportProgress) {
  // The last percent is for the commit: a job shows 100 only once its file is there.
  const percent = Math.min(99, Math.floor((100 * progress.daysDone) / progress.days));
  const at = progress.day ? `, reading ${progress.day}` : ', writing the file';
  return {
    step: 'export',
    index: progress.daysDone,
    total: progress.days,
    percent,
    message: `${progress.orders} orders written in ${progress.pages} pages${at}`,
  };
}

function sameCheckpoint(a: ExportCheckpoint | undefined, b: ExportCheckpoint | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export type ExportRunOutcome = 'succeeded' | 'failed' | 'already-done' | 'superseded' | 'cancelled' | 'no-job';

/**
 * Runs one delivery of an export message. Safe under duplicate delivery: a finished job is not run again, a run
 * resumes from the checkpoint, and a delivery that loses the checkpoint to a concurrent one stops. A permanent
 * failure fails the job and records a dead letter at once; anything else is thrown for the queue to retry.
 */
export async function processExportMessage(
  services: ExportServices,
  message: ExportMessage,
): Promise<ExportRunOutcome> {
  const found = await services.jobs.get(message.jobId);
  if (!found || found.type !== EXPORT_JOB_TYPE) return 'no-job';
  if (isTerminal(found.status)) return 'already-done';
  const parsed = exportJobDataSchema.safeParse(found.data);
  if (!parsed.success) {
    await failForGood(services, found, new ExportError('EXPORT_INVALID', 'the job holds no valid export request'));
    return 'failed';
  }
  const data = parsed.data;
  const resumeFrom = data.checkpoint;
  let job = await services.jobs.update(found.id, () => ({
    status: 'running',
    attemptsIncrement: 1,
    event: resumeFrom
      ? {
          kind: 'resumed',
          message: `resumed at day ${resumeFrom.dayIndex + 1} after ${resumeFrom.orders} orders (${resumeFrom.pages} pages)`,
        }
      : { kind: 'started', message: `exporting ${data.from} to ${data.to} as ${data.format}` },
  }));
  try {
    const outcome = await runExport(
      data,
      {
        orders: services.orders,
        file: exportFile(services.exports, job.id, data.format),
        ...(services.log ? { log: services.log } : {}),
        async saveCheckpoint(expected, next, progress) {
          let verdict: 'saved' | 'superseded' | 'cancelled' = 'saved';
          await services.jobs.update(job.id, (current) => {
            verdict = 'saved';
            if (current.status === 'cancelled') verdict = 'cancelled';
            else if (!sameCheckpoint(current.data['checkpoint'] as ExportCheckpoint | undefined, expected))
              verdict = 'superseded';
            if (verdict !== 'saved') return undefined;
            return { data: { checkpoint: next }, progress: progressUpdate(progress) };
          });
          return verdict;
        },
      },
      resumeFrom,
    );
    if (outcome.kind !== 'completed') return outcome.kind;
    const days = daysOf(data.from, data.to).length;
    const result: ExportJobResult = {
      ...outcome.result,
      download: { url: data.downloadUrl, method: 'GET', authLevel: 'admin' },
    };
    job = await services.jobs.update(job.id, () => ({
      status: 'succeeded',
      error: null,
      result: { ...result },
      progress: {
        step: 'done',
        index: days,
        total: days,
        percent: 100,
        message: `${result.orders} orders, ${result.bytes} bytes`,
      },
      event: { kind: 'succeeded', message: `${result.orders} orders written to ${result.file}` },
    }));
    return 'succeeded';
  } catch (error) {
    if (error instanceof ExportError) {
      await failForGood(services, job, error);
      return 'failed';
    }
    const reason = (error as Error).message.split('\n')[0] ?? 'failed';
    // Transient: recorded on the job, then thrown for the queue to retry; the poison handler takes it from there.
    await services.jobs
      .update(job.id, () => ({
        error: { code: 'TRANSIENT', message: reason },
        event: { kind: 'attempt-failed', message: reason },
      }))
      .catch(() => undefined);
    throw error;
  }
}

async function failForGood(services: ExportServices, job: Job, error: ExportError): Promise<void> {
  const failure = { code: error.code, message: error.message };
  await services.jobs.update(job.id, () => ({
    status: 'failed',
    error: failure,
    event: { kind: 'failed', message: `${error.code}: ${error.message}` },
  }));
  await services.deadLetters.record({
    id: deadLetterId(job.id, new Date(job.createdAt), services.queue),
    source: { kind: 'queue', queue: services.queue },
    body: JSON.stringify({ jobId: job.id } satisfies ExportMessage),
    dequeueCount: job.attempts,
    error: failure,
    jobId: job.id,
    deadLetteredAt: new Date().toISOString(),
  });
}
