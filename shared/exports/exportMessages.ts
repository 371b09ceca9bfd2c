import type { DeadLetter } from '../deadletters/deadLetterTypes';
import type { FieldProblem } from '../http/problem';
import { MALFORMED_MESSAGE_CODE, PermanentJobError } from '../jobs/jobErrors';
import { decodeMessage } from '../jobs/jobMessages';
import type { ExecuteOutcome, JobRuntime } from '../jobs/jobRuntime';
import { JobStore } from '../jobs/jobStore';
import type { QueueDelivery } from '../jobs/queueDelivery';
import { bodyFingerprint, idempotencyKeyProblem, type IdempotencyKeys } from '../orders/idempotencyKeys';
import type { QueueSender } from '../workflow/queueSender';
import {
  EXPORT_JOB_ID_PREFIX,
  type ExportJob,
  type ExportJobData,
  type ExportJobResult,
  exportMessageSchema,
  queueExport,
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

/** What starting an export needs: the queue services, a sender, and the `Idempotency-Key` store (claimed lazily). */
export interface RequestExportServices extends ExportQueueServices {
  sender: QueueSender;
  /** The export scope of the keys; only a request that sends a key asks for it (no cost without one). */
  idempotencyKeys: () => Promise<Pick<IdempotencyKeys, 'claim'>>;
}

export type RequestExportOutcome =
  | { outcome: 'accepted'; jobId: string }
  | { outcome: 'invalid'; errors: FieldProblem[] }
  | { outcome: 'idempotency-key-reused' };

/**
 * Starts an export under a new job id (`exp_…`) and queues its first run. With an `Idempotency-Key`, a repeat with
 * the same body gets the first request's job; while that job is still `queued` (no run has started: the first
 * request's host may have died, or its send failed, after creating it) its message is sent again, so the repeat gets
 * the export run. A repeat whose first request died before creating the job creates it. Another body is refused.
 */
export async function requestExport(
  services: RequestExportServices,
  request: ExportRequest,
  idempotencyKey?: string,
): Promise<RequestExportOutcome> {
  let jobId = JobStore.newJobId(EXPORT_JOB_ID_PREFIX);
  if (idempotencyKey !== undefined) {
    const keyProblem = idempotencyKeyProblem(idempotencyKey);
    if (keyProblem) return { outcome: 'invalid', errors: [keyProblem] };
    const keys = await services.idempotencyKeys();
    const claim = await keys.claim(idempotencyKey, bodyFingerprint(request), jobId);
    if (claim.kind === 'mismatch') return { outcome: 'idempotency-key-reused' };
    jobId = claim.jobId;
    if (claim.kind === 'repeat') {
      const existing = await services.runtime.read(services.job, jobId);
      if (existing) {
        if (existing.status === 'queued') await queueExport(services, jobId);
        return { outcome: 'accepted', jobId };
      }
    }
  }
  await startExport(services, request, jobId);
  return { outcome: 'accepted', jobId };
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
