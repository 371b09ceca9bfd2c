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

/** The sales ledger as the completion port writes it (`SalesFacts` in production). */
export interface SalesLedger {
  /**
   * Records an ended order's fact, keyed by the order and ordered by its ends (`data.reopens`): a repeat of the same
   * end, or a stale one of an earlier end, changes nothing.
   */
  record(job: Job): Promise<void>;
}

/**
 * The order workflow's completion port: records the ended order's sales fact (the nightly report and the export read
 * the ledger, never the jobs), then tells its caller. Both are safe to call again for the same ended order: the
 * ledger write is idempotent (and never lets an earlier end's fact replace a later one's) and the notifier sends only
 * what is not marked told.
 */
export function orderCompletion(ledger: SalesLedger, services: CompletionServices): (job: Job) => Promise<void> {
  return async (job) => {
    await ledger.record(job);
    await notifyCompletion(services, job);
  };
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
 * Whether the write that ends this job must record a notification as owed (`data.notifyOwed`, the outbox flag): its
 * caller asked to be told (reply queue, webhook) and has not been told of this run yet.
 */
export function owesNotification(job: Job): boolean {
  const { replyTo, callbackUrl } = job.correlation;
  return Boolean(replyTo || callbackUrl) && job.data['notified'] === undefined;
}

/**
 * Whether an ended job's notification may not have gone: the write that ended it recorded it as owed and no write
 * has marked it told since (the process died in between, or the send failed).
 */
export function notificationOwed(job: Job): boolean {
  return isTerminal(job.status) && job.data['notifyOwed'] === true && job.data['notified'] === undefined;
}

/**
 * Tells the caller that a job ended, the ways it asked for: a message on its reply queue (with its correlation id)
 * and a webhook (queued, delivered with retries by the webhook function). Once per job, not once per status: a job
 * that is reopened after it ended (an order whose late step is undone) is not announced again with another answer.
 * Marked on the job (`data.notified`, the status told, in the write that clears the `notifyOwed` outbox flag; a
 * replay clears both). Called again for a job still flagged (see {@link notificationOwed}): a crash between the
 * sending and the mark repeats the same answer, with the same correlation id and webhook id, and receivers dedupe on
 * them.
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
      data: { notified: job.status, notifyOwed: undefined },
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
