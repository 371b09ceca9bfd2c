import { z } from 'zod';

import type { DeadLetterPort, JobStatusPort } from '../jobs/jobPorts';
import { JobRuntime, type PoisonDelivery } from '../jobs/jobRuntime';
import type { DeadLetter, DeadLetterSource } from './deadLetterTypes';

/** The host's blob trigger poison message (`webjobs-blobtrigger-poison`). */
export const blobPoisonMessage = z.object({
  FunctionId: z.string(),
  BlobType: z.string().optional(),
  ContainerName: z.string().min(1),
  BlobName: z.string().min(1),
  ETag: z.string().min(1),
});
export type BlobPoisonMessage = z.infer<typeof blobPoisonMessage>;

export type { PoisonDelivery } from '../jobs/jobRuntime';

export interface DeadLetterServices {
  jobs: JobStatusPort;
  deadLetters: DeadLetterPort;
}

/**
 * Records a poisoned message and fails its job (the runtime's `recordPoison`, for callers that hold only the
 * stores). Safe to run twice for one delivery.
 */
export async function recordPoisonedMessage(
  services: DeadLetterServices,
  delivery: PoisonDelivery,
  source: DeadLetterSource,
  jobId: string | undefined,
  dequeueCount: number,
  options: { failJob?: boolean } = {},
): Promise<DeadLetter> {
  const runtime = new JobRuntime({ statuses: services.jobs, deadLetters: services.deadLetters });
  return runtime.recordPoison(delivery, source, jobId, dequeueCount, options);
}
