import type { DeadLetter } from '../deadletters/deadLetterTypes';
import { MALFORMED_MESSAGE_CODE, PermanentJobError } from '../jobs/jobErrors';
import { decodeMessage } from '../jobs/jobMessages';
import type { ExecuteOutcome, JobRuntime } from '../jobs/jobRuntime';
import { JobStore } from '../jobs/jobStore';
import type { QueueDelivery } from '../jobs/queueDelivery';
import type { QueueSender } from '../workflow/queueSender';
import {
  EXPORT_JOB_ID_PREFIX,
  type ExportJob,
  type ExportJobData,
  type ExportJobResult,
  exportMessageSchema,
  startExport,
} from './exportJob';
import type { ExportRequest } from './exportRequest';

/** host.json extensions.queues.maxDequeueCount: deliveries before a message is poisoned. */
const MAX_DEQUEUE_COUNT = 5;

/** The runtime, the export job and its queue: what the export's use cases share. */
export interface ExportQueueServices {
  runtime: JobRuntime;
  job: ExportJob;
  queue: string;
}

/** Starts an export under a new job id (`exp_…`) and queues its first run; returns the id. */
export async function requestExport(
  services: ExportQueueServices & { sender: QueueSender },
  request: ExportRequest,
): Promise<string> {
  const jobId = JobStore.newJobId(EXPORT_JOB_ID_PREFIX);
  await startExport(services, request, jobId);
  return jobId;
}

export type ExportMessageOutcome =
  /** Not an export message: recorded as a dead letter at once (no retry can fix it). */
  | { outcome: 'malformed'; deadLetter: DeadLetter }
  | { outcome: 'executed'; jobId: string; execution: ExecuteOutcome<ExportJobData, ExportJobResult> };

/** One delivery of the export queue: runs the job it names (resuming from its checkpoint). */
export async function handleExportMessage(
  services: ExportQueueServices,
  delivery: QueueDelivery,
  message: unknown,
): Promise<ExportMessageOutcome> {
  let jobId: string;
  try {
    ({ jobId } = decodeMessage(exportMessageSchema, message, 'an export message'));
  } catch (error) {
    if (!(error instanceof PermanentJobError) || error.code !== MALFORMED_MESSAGE_CODE) throw error;
    return { outcome: 'malformed', deadLetter: await services.runtime.recordMalformed(delivery, error.message) };
  }
  return { outcome: 'executed', jobId, execution: await services.runtime.execute(services.job, jobId) };
}

/** An export message that failed every delivery: a dead letter, and the job failed (a replay resumes it). */
export async function recordPoisonedExport(
  services: ExportQueueServices,
  delivery: QueueDelivery,
  message: unknown,
): Promise<DeadLetter> {
  const parsed = exportMessageSchema.safeParse(message);
  return services.runtime.recordPoison(
    { ...delivery, poisonQueue: delivery.queue },
    { kind: 'queue', queue: services.queue },
    parsed.success ? parsed.data.jobId : undefined,
    MAX_DEQUEUE_COUNT,
  );
}
