import { z } from 'zod';

import type { JobRuntime } from '../jobs/jobRuntime';
import { isTerminal } from '../jobs/jobTypes';
import type { MessageSender } from '../workflow/orderPorts';
import type { BatchRunStore } from './batchRunStore';
import { datesToRun } from './catchUp';
import { isValidDate, nightlyJob, nightlyJobId } from './nightlyBatch';

const DAY_MS = 24 * 60 * 60 * 1000;

/** A message on the nightly-run queue: one date to run, optionally again after it completed. */
export const nightlyRunMessageSchema = z.object({
  date: z.string().refine(isValidDate, 'must be a date YYYY-MM-DD'),
  force: z.boolean().optional(),
  /** Set on a message queued by a delivery that found the run in flight (see `runNightly`). */
  inFlight: z
    .object({
      attempt: z.number().int().min(1),
      takeovers: z.number().int().min(0).max(1000),
      progress: z.string().max(64).optional(),
    })
    .optional(),
});
export type NightlyRunMessage = z.infer<typeof nightlyRunMessageSchema>;

/** `POST /api/batch/nightly/run`'s body. */
export const nightlyRunRequestSchema = z
  .object({
    date: z.string().refine(isValidDate, 'must be a date YYYY-MM-DD').optional(),
    force: z.boolean().optional(),
  })
  .strict();

export interface NightlyRequestServices {
  runtime: JobRuntime;
  runs: BatchRunStore;
  sender: MessageSender;
  runQueue: string;
  /** A requested run not picked up within this long may be requested again, in milliseconds. */
  leaseMs: number;
}

/**
 * The timer's part: queue every date due (yesterday, the nights missed after an outage, and those after the last
 * date that succeeded: a night whose queueing failed; up to a bound).
 */
export async function scheduleNightlyRuns(
  services: Pick<NightlyRequestServices, 'sender' | 'runQueue' | 'runs'>,
  schedule: { now: Date; isPastDue: boolean; last: Date | undefined; maxCatchUpDays: number },
): Promise<string[]> {
  const lastSucceeded = await services.runs.lastSucceededDate();
  const dates = datesToRun(schedule.now, schedule.isPastDue, schedule.last, schedule.maxCatchUpDays, lastSucceeded);
  for (const date of dates) await services.sender.send(services.runQueue, { date } satisfies NightlyRunMessage);
  return dates;
}

export type RequestNightlyOutcome =
  | { outcome: 'accepted'; jobId: string; date: string }
  | { outcome: 'invalid'; field: string; message: string }
  | { outcome: 'in-flight'; jobId: string; message: string }
  | { outcome: 'completed'; jobId: string; message: string };

/**
 * Runs the nightly batch on demand: refused for a future date, while a run of that date is in flight or queued,
 * and when it completed (unless `force`). The job exists before the run starts, so its status URL answers at once.
 */
export async function requestNightlyRun(
  services: NightlyRequestServices,
  request: z.infer<typeof nightlyRunRequestSchema>,
  now = new Date(),
): Promise<RequestNightlyOutcome> {
  const today = now.toISOString().slice(0, 10);
  const date = request.date ?? new Date(now.getTime() - DAY_MS).toISOString().slice(0, 10);
  if (date > today) return { outcome: 'invalid', field: 'date', message: 'must not be in the future' };
  const existing = await services.runs.get(date);
  if (existing?.state === 'running' && !services.runs.isStale(existing)) {
    return { outcome: 'in-flight', jobId: existing.jobId, message: `the nightly batch for ${date} is running` };
  }
  const jobId = nightlyJobId(date);
  const requested = await services.runtime.read(nightlyJob, jobId);
  if (requested?.status === 'queued' && now.getTime() - Date.parse(requested.updatedAt) < services.leaseMs) {
    return { outcome: 'in-flight', jobId, message: `the nightly batch for ${date} is queued to run` };
  }
  if (existing?.state === 'succeeded' && request.force !== true) {
    return {
      outcome: 'completed',
      jobId: existing.jobId,
      message: `the nightly batch for ${date} has completed; send {"force": true} to run it again`,
    };
  }
  // A job read ended just above (a forced run again) is listed again by the run this request starts, whose reopen
  // writes its row (see runNightly): meeting it here costs no listing read. Any other found is listed as it is.
  await services.runtime.create(
    nightlyJob,
    { id: jobId, data: { date }, event: `nightly batch for ${date} requested` },
    { ensureListed: !requested || !isTerminal(requested.status) },
  );
  await services.sender.send(services.runQueue, {
    date,
    ...(request.force ? { force: true } : {}),
  } satisfies NightlyRunMessage);
  return { outcome: 'accepted', jobId, date };
}
