import type { QueueClient } from '@azure/storage-queue';

import type { JobStatusPort } from '../jobs/jobPorts';
import { isTerminal, type Job } from '../jobs/jobTypes';
import { enqueueWebhook } from '../notify/webhookQueue';
import type { QueueSender } from './queueSender';

export interface CompletionServices {
  jobs: JobStatusPort;
  sender: QueueSender;
  webhooks: QueueClient;
}

/** A progress milestone for a caller that gave a webhook URL (each step done). */
export async function notifyProgress(services: CompletionServices, job: Job): Promise<void> {
  const url = job.correlation.callbackUrl;
  if (!url) return;
  await services.webhooks.createIfNotExists();
  await enqueueWebhook(services.webhooks, {
    jobId: job.id,
    url,
    event: 'job.progress',
    payload: { jobId: job.id, type: job.type, status: job.status, progress: { ...job.progress } },
  });
}

/** What a reply queue receives when a job ends. */
export interface ReplyMessage {
  correlationId: string;
  jobId: string;
  status: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/**
 * Tells the caller that a job ended, the ways it asked for: a message on its reply queue (with its correlation id)
 * and a webhook (queued, delivered with retries by the webhook function). Once per job, not once per status: a job
 * that is reopened after it ended (an order whose late step is undone) is not announced again with another answer.
 * Marked on the job (`data.notified`, the status told; a replay clears it); a crash between sending and marking can
 * repeat the same answer, and receivers dedupe on the job id.
 */
export async function notifyCompletion(services: CompletionServices, job: Job): Promise<void> {
  if (!isTerminal(job.status) || job.data['notified'] !== undefined) return;
  const { replyTo, callbackUrl, idempotencyKey } = job.correlation;
  // Nothing to tell and nothing to mark: polling the status URL is how this caller hears back.
  if (!replyTo && !callbackUrl) return;
  if (replyTo) {
    const reply: ReplyMessage = {
      correlationId: idempotencyKey ?? job.id,
      jobId: job.id,
      status: job.status,
      ...(job.result ? { result: job.result } : {}),
      ...(job.error ? { error: job.error } : {}),
    };
    await services.sender.send(replyTo, reply);
  }
  if (callbackUrl) {
    await services.webhooks.createIfNotExists();
    await enqueueWebhook(services.webhooks, {
      jobId: job.id,
      url: callbackUrl,
      event: `job.${job.status}`,
      payload: { jobId: job.id, type: job.type, status: job.status, error: job.error ? { ...job.error } : null },
    });
  }
  await services.jobs.update(
    job.id,
    () => ({
      data: { notified: job.status },
      event: {
        kind: 'notified',
        message: [replyTo ? `reply sent to ${replyTo}` : '', callbackUrl ? 'webhook queued' : '']
          .filter(Boolean)
          .join(', '),
      },
    }),
    { basis: job },
  );
}
