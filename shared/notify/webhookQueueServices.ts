import type { JobStatusPort } from '../jobs/jobPorts';
import type { NewJobEvent } from '../jobs/jobTypes';
import type { OrderAppServices } from '../orderServices';
import { type WebhookJobEvent, type WebhookQueueDependencies } from './webhookQueue';
import { DEFAULT_WEBHOOK_RETRY } from './webhookRetry';

/** Job timelines the webhook handler writes to: read to check the job exists, then append. */
export interface WebhookJobTimeline {
  get: JobStatusPort['get'];
  appendEvent(id: string, event: NewJobEvent): Promise<void>;
}

/**
 * Records a webhook's attempt on its job's timeline. A webhook whose job is gone (purged by retention) records
 * nothing rather than recreating the job.
 */
export function webhookJobEventRecorder(
  jobs: WebhookJobTimeline,
): (jobId: string, event: WebhookJobEvent) => Promise<void> {
  return async (jobId, event) => {
    if (await jobs.get(jobId)) {
      await jobs.appendEvent(jobId, { kind: event.type, message: `${event.event} attempt ${event.attempt}` });
    }
  };
}

/** The webhook queue handler's dependencies on the app's storage and the webhook settings (validated at start). */
export function webhookQueueDependencies(
  services: OrderAppServices,
  warn: (line: string) => void,
): WebhookQueueDependencies {
  const { names, storage, config } = services.app;
  const settings = config.webhooks;
  return {
    queue: storage.queues.getQueueClient(names.queues.webhooks),
    poisonQueue: storage.queues.getQueueClient(`${names.queues.webhooks}-poison`),
    delivery: { policy: settings.target, signingSecret: settings.signingSecret ?? '' },
    retry: DEFAULT_WEBHOOK_RETRY,
    recordJobEvent: webhookJobEventRecorder(services.jobs),
    warn,
  };
}
