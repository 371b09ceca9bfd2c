import type { z } from 'zod';

import type { DeadLetter } from '../deadletters/deadLetterTypes';
import type { QueueDelivery } from '../jobs/queueDelivery';
import { MAX_DEQUEUE_COUNT } from '../workflow/orderMessages';
import { nightlyJobId, type NightlyOutcome, type NightlyServices, runNightly } from './nightlyBatch';
import {
  type NightlyRequestServices,
  nightlyRunMessageSchema,
  type nightlyRunRequestSchema,
  type RequestNightlyOutcome,
  requestNightlyRun,
} from './nightlyRequests';

export type NightlyRunMessageOutcome =
  /** Not a nightly run message: nothing to run, and nothing to retry. */
  { outcome: 'invalid'; reason: string } | { outcome: 'ran'; date: string; result: NightlyOutcome };

/** One delivery of the nightly run queue: runs (or resumes) the batch of the date it names. */
export async function handleNightlyRunMessage(
  services: NightlyServices,
  message: unknown,
): Promise<NightlyRunMessageOutcome> {
  await services.runs.ensureTable();
  const parsed = nightlyRunMessageSchema.safeParse(message);
  if (!parsed.success) return { outcome: 'invalid', reason: parsed.error.issues[0]?.message ?? '' };
  const { date, force, inFlight } = parsed.data;
  return {
    outcome: 'ran',
    date,
    result: await runNightly(services, date, { ...(force ? { force } : {}), ...(inFlight ? { inFlight } : {}) }),
  };
}

/** An on-demand run (`POST /api/batch/nightly/run`): see requestNightlyRun for the rules. */
export async function requestNightlyRunNow(
  services: NightlyRequestServices,
  request: z.infer<typeof nightlyRunRequestSchema>,
): Promise<RequestNightlyOutcome> {
  await services.runs.ensureTable();
  return requestNightlyRun(services, request);
}

/** A nightly run message that failed every time: a dead letter of its date's job (the run can be re-run on demand). */
export async function recordPoisonedNightlyRun(
  services: Pick<NightlyRequestServices, 'runtime' | 'runQueue'>,
  delivery: QueueDelivery,
  message: unknown,
): Promise<DeadLetter> {
  const parsed = nightlyRunMessageSchema.safeParse(message);
  return services.runtime.recordPoison(
    { ...delivery, poisonQueue: delivery.queue },
    { kind: 'queue', queue: services.runQueue },
    parsed.success ? nightlyJobId(parsed.data.date) : undefined,
    MAX_DEQUEUE_COUNT,
  );
}
