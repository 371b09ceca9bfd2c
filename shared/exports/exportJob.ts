import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import { defineJob, type JobDefinition } from '../jobs/jobDefinition';
import type { JobRuntime } from '../jobs/jobRuntime';
import type { Job } from '../jobs/jobTypes';
import type { QueueSender } from '../workflow/queueSender';
import { exportFile } from './exportBlob';
import { type ExportCheckpoint, exportCheckpointSchema } from './exportCheckpoint';
import { daysOf, EXPORT_FORMATS, type ExportRequest } from './exportRequest';
import type { OrderPages } from './orderPages';
import { type CheckpointSave, type ExportProgress, runExport } from './runExport';

export const EXPORT_JOB_TYPE = 'export';
export const EXPORT_JOB_ID_PREFIX = 'exp';

/** The job's private data: the validated request, a label for job lists, and the checkpoint. */
export const exportJobDataSchema = z.object({
  from: z.string(),
  to: z.string(),
  format: z.enum(EXPORT_FORMATS),
  /** What the dashboard's job list shows (`jobLabel` reads `data.label` for job types it does not know). */
  label: z.string().optional(),
  checkpoint: exportCheckpointSchema.optional(),
});
export type ExportJobData = z.infer<typeof exportJobDataSchema>;

/** The job's result: the file, and how to download it (admin only: it holds customers' orders). */
export const exportJobResultSchema = z.object({
  format: z.enum(EXPORT_FORMATS),
  from: z.string(),
  to: z.string(),
  orders: z.number(),
  pages: z.number(),
  bytes: z.number(),
  file: z.string(),
  contentType: z.string(),
  download: z.object({ url: z.string(), method: z.literal('GET'), authLevel: z.literal('admin') }),
});
export type ExportJobResult = z.infer<typeof exportJobResultSchema>;

/** The queue message: only the job id; everything else is in the job. */
export const exportMessageSchema = z.object({ jobId: z.string().regex(/^exp_[A-Za-z0-9_-]{22}$/) }).strict();
export type ExportMessage = z.infer<typeof exportMessageSchema>;

export type ExportJob = JobDefinition<ExportJobData, ExportJobResult>;

export interface ExportJobServices {
  runtime: JobRuntime;
  /** The finished orders, day by day: the sales ledger. */
  orders: OrderPages;
  /** The `exports` container (with `RESOURCE_PREFIX`). */
  exports: ContainerClient;
  /** The export queue's name: where a dead letter of this job is replayed to. */
  queue: string;
  /** The URL callers download a finished export from (`/api/exports/{jobId}/file`, see `exportDownloadPath`). */
  downloadUrl: (jobId: string) => string;
}

/** The download route below `/api/`: `exports/{jobId}/file`. */
export function exportDownloadPath(jobId: string): string {
  return `exports/${encodeURIComponent(jobId)}/file`;
}

function progressOf(progress: ExportProgress) {
  // 100 % is for the runtime to set when the file is committed and the job succeeded.
  const percent = Math.min(99, Math.floor((100 * progress.daysDone) / progress.days));
  const at = progress.day ? `, reading ${progress.day}` : ', committing the file';
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

/**
 * The order export on the job runtime. `run` is one attempt: it goes on from the job's checkpoint (a killed host,
 * a redelivered message, a replayed dead letter) and returns the result, which the runtime stores as the job
 * succeeds. A checkpoint write is compare-and-swap on the job record, so two deliveries running at once never both
 * extend the file. A permanent failure (too many pages) fails the job at once and leaves a dead letter that a replay
 * resumes from the checkpoint; anything else is retried by the queue and then poisoned. Cancelling ends the job at
 * once; the run stops at its next page (`JobCancelledError`: no dead letter).
 */
export function defineExportJob(services: ExportJobServices): ExportJob {
  const definition: ExportJob = defineJob<ExportJobData, ExportJobResult>({
    type: EXPORT_JOB_TYPE,
    data: exportJobDataSchema,
    result: exportJobResultSchema,
    cancel: {},
    async run(job, context) {
      const resumeFrom = job.data.checkpoint;
      if (resumeFrom) {
        await context.event(
          'resumed',
          `resumed at day ${resumeFrom.dayIndex + 1} after ${resumeFrom.orders} orders (${resumeFrom.pages} pages)`,
        );
      }
      let basis: Job<ExportJobData, ExportJobResult> | undefined;
      const file = await runExport(
        job.data,
        {
          orders: services.orders,
          file: exportFile(services.exports, job.id, job.data.format),
          async saveCheckpoint(expected, next, progress) {
            let saved: CheckpointSave = { kind: 'saved' };
            basis = await services.runtime.update(
              definition,
              job.id,
              (current) => {
                if (current.status === 'cancelled') saved = { kind: 'cancelled' };
                else if (!sameCheckpoint(current.data.checkpoint, expected))
                  saved = { kind: 'moved', stored: current.data.checkpoint };
                else saved = { kind: 'saved' };
                return saved.kind === 'saved'
                  ? { data: { checkpoint: next }, progress: progressOf(progress) }
                  : undefined;
              },
              basis,
            );
            return saved;
          },
        },
        resumeFrom,
      );
      return { ...file, download: { url: services.downloadUrl(job.id), method: 'GET', authLevel: 'admin' } };
    },
    async onPermanentFailure(job, error) {
      // A dead letter to replay once the cause is fixed; the replay resumes from the checkpoint.
      await services.runtime.recordFailureAsDeadLetter({
        job,
        source: { kind: 'queue', queue: services.queue },
        body: JSON.stringify({ jobId: job.id } satisfies ExportMessage),
        sourceName: services.queue,
        key: `${job.id}\n${job.attempts}`,
        error,
      });
    },
  });
  return definition;
}

/** Creates the export job and queues it. The job exists before the message, so its status URL answers at once. */
export async function startExport(
  services: { runtime: JobRuntime; job: ExportJob; sender: QueueSender; queue: string },
  request: ExportRequest,
  jobId: string,
): Promise<Job<ExportJobData, ExportJobResult>> {
  const { job, created } = await services.runtime.create(services.job, {
    id: jobId,
    data: { ...request, label: `${request.format} of ${request.from} to ${request.to}` },
    progress: { step: 'queued', index: 0, total: daysOf(request.from, request.to).length, percent: 0 },
    event: `${request.format} export of the orders finished ${request.from} to ${request.to}`,
  });
  if (created) await queueExport(services, jobId);
  return job;
}

/**
 * Sends the message that runs export `jobId`. Sending it again for a job that already has one is harmless: a run
 * goes on from the job's checkpoint, compare-and-swap, and a finished job is not run again.
 */
export async function queueExport(services: { sender: QueueSender; queue: string }, jobId: string): Promise<void> {
  await services.sender.send(services.queue, { jobId } satisfies ExportMessage);
}
