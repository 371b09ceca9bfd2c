import { z } from 'zod';

import type { JobStore } from '../jobs/jobStore';
import type { JobError } from '../jobs/jobTypes';
import { type DeadLetter, deadLetterId, type DeadLetterSource, type DeadLetterStore } from './deadLetterStore';

/** The host's blob trigger poison message (`webjobs-blobtrigger-poison`). */
export const blobPoisonMessage = z.object({
  FunctionId: z.string(),
  BlobType: z.string().optional(),
  ContainerName: z.string().min(1),
  BlobName: z.string().min(1),
  ETag: z.string().min(1),
});
export type BlobPoisonMessage = z.infer<typeof blobPoisonMessage>;

/** What a poison-queue function knows about the message it received. */
export interface PoisonDelivery {
  poisonQueue: string;
  messageId: string;
  insertedAt: Date;
  /** The poisoned message's text as it was delivered (decoded). */
  text: string;
}

export interface DeadLetterServices {
  jobs: JobStore;
  deadLetters: DeadLetterStore;
}

/**
 * Records a poisoned message and fails its job. Safe to run twice for one delivery (the dead letter id is derived
 * from the poison message; the job's terminal status sticks).
 */
export async function recordPoisonedMessage(
  services: DeadLetterServices,
  delivery: PoisonDelivery,
  source: DeadLetterSource,
  jobId: string | undefined,
  dequeueCount: number,
  options: { failJob?: boolean } = {},
): Promise<DeadLetter> {
  let error: JobError = {
    code: 'POISONED',
    message: `the message failed ${dequeueCount} times and was moved to ${delivery.poisonQueue}`,
  };
  const job = jobId ? await services.jobs.get(jobId) : undefined;
  if (job?.error) error = { code: job.error.code, message: `${job.error.message} (moved to ${delivery.poisonQueue})` };
  const { deadLetter } = await services.deadLetters.record({
    id: deadLetterId(delivery.messageId, delivery.insertedAt, delivery.poisonQueue),
    source,
    body: delivery.text,
    dequeueCount,
    error,
    ...(job ? { jobId: job.id } : {}),
    deadLetteredAt: new Date().toISOString(),
  });
  if (job && options.failJob !== false) {
    await services.jobs.update(job.id, (current) =>
      current.status === 'failed'
        ? undefined
        : {
            status: 'failed',
            error,
            event: {
              kind: 'dead-lettered',
              message: `${error.code}: ${error.message}`,
              data: { deadLetterId: deadLetter.id },
            },
          },
    );
  }
  return deadLetter;
}
