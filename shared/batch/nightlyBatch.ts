import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';

import type { DeadLetterStore } from '../deadletters/deadLetterStore';
import { defineJob } from '../jobs/jobDefinition';
import { classifyFailure } from '../jobs/jobErrors';
import type { JobRuntime, RuntimeJobUpdate } from '../jobs/jobRuntime';
import type { JobStore } from '../jobs/jobStore';
import type { InventoryStore } from '../orders/inventoryStore';
import { type BatchCheckpoint, type BatchRun, type BatchRunStore } from './batchRunStore';
import { reconcileReservations } from './consistencyCheck';
import { aggregate, emptyAggregate, renderReportCsv, renderReportJson } from './dailyReport';
import { purgeDeadLetters, purgeJobsPage, purgeOrphanThumbnails } from './retention';
import type { SalesFacts } from './salesFacts';

export const NIGHTLY_JOB_TYPE = 'nightly';
const DAY_MS = 24 * 60 * 60 * 1000;
/** How long after a run's lease lapses a delivery that found it in flight asks for it again, in milliseconds. */
const LEASE_MARGIN_MS = 1000;
/**
 * Takeovers of a run, each found in flight again with nothing recorded and no progress saved, after which it is not
 * asked for again: with the first run, as many hosts lost as deliveries before a message is poisoned (5).
 */
const MAX_TAKEOVERS_IN_FLIGHT = 4;

/**
 * What a delivery that found a run in flight saw, carried by the message it queues for when the lease lapses: the
 * run's attempt and a digest of its checkpoint then, and how many times before that the run had been taken over and
 * found in flight again with no progress saved.
 */
export interface InFlightSeen {
  attempt: number;
  takeovers: number;
  progress?: string;
}

/** A short digest of a run's checkpoint: a run that saves progress between two looks is not the same place. */
function progressOf(checkpoint: BatchCheckpoint): string {
  return createHash('sha256').update(JSON.stringify(checkpoint)).digest('base64url').slice(0, 16);
}

/** A run taken over again and again, each time found in flight again with nothing recorded: it is not asked for again. */
export class BatchRunGivenUpError extends Error {
  override readonly name = 'BatchRunGivenUpError';
  readonly code = 'BATCH_RUN_GIVEN_UP';
}

/** The nightly job's data: the UTC date it reports on. */
export const nightlyDataSchema = z.object({ date: z.string() });
export type NightlyData = z.infer<typeof nightlyDataSchema>;

export const nightlyResultSchema = z.object({
  date: z.string(),
  report: z.object({ json: z.string(), csv: z.string() }),
  summary: z.object({ orders: z.number(), revenueCents: z.number() }),
  findings: z.record(z.string(), z.number()),
  durationMs: z.number(),
  attempt: z.number(),
});
export type NightlyResult = z.infer<typeof nightlyResultSchema>;

/**
 * The nightly batch on the job runtime: typed data and result. Its run is claimed per date and checkpointed in the
 * batch-run record (`runNightly`), so it drives the job through the runtime's typed writes rather than `execute`.
 */
export const nightlyJob = defineJob<NightlyData, NightlyResult>({
  type: NIGHTLY_JOB_TYPE,
  data: nightlyDataSchema,
  result: nightlyResultSchema,
});

export interface NightlyServices {
  runtime: JobRuntime;
  /** For retention: listing and deleting old jobs. */
  jobs: JobStore;
  runs: BatchRunStore;
  sales: SalesFacts;
  deadLetters: DeadLetterStore;
  inventory: InventoryStore;
  inventoryTable: TableClient;
  reports: ContainerClient;
  uploads: ContainerClient;
  thumbnails: ContainerClient;
  retention: { jobMs: number; deadLetterMs: number };
  /** Hands orders stuck in flight to the supervisor; returns how many it re-drove or gave up on. */
  superviseStuckOrders(): Promise<number>;
  /**
   * Queues the date's run again (a nightly-run message, not forced, carrying `seen`), visible after `delayMs`
   * milliseconds.
   */
  runAgainLater(date: string, delayMs: number, seen: InFlightSeen): Promise<void>;
  log(message: string): void;
}

export function nightlyJobId(date: string): string {
  return `nightly_${date.replace(/-/g, '')}`;
}

/** The UTC day before `now`, as YYYY-MM-DD: what a run at 02:00 reports on. */
export function previousUtcDate(now: Date): string {
  return new Date(now.getTime() - DAY_MS).toISOString().slice(0, 10);
}

export function isValidDate(date: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) && new Date(`${date}T00:00:00Z`).toISOString().startsWith(date);
}

function initialCheckpoint(): BatchCheckpoint {
  return { phase: 'report', aggregate: emptyAggregate(), itemsDone: 0, findings: {} };
}

/** The write that ends a date's job: its result is the succeeded run record's, so any host can write it. */
function succeeded(
  services: Pick<NightlyServices, 'reports'>,
  run: BatchRun,
): RuntimeJobUpdate<NightlyData, NightlyResult> {
  const { date, checkpoint } = run;
  return {
    status: 'succeeded',
    progress: { step: 'done', index: 4, total: 4, percent: 100, message: 'done' },
    result: {
      date,
      report: {
        json: `${services.reports.containerName}/daily/${date}.json`,
        csv: `${services.reports.containerName}/daily/${date}.csv`,
      },
      summary: { orders: checkpoint.aggregate.orders, revenueCents: checkpoint.aggregate.revenueCents },
      findings: checkpoint.findings,
      durationMs: checkpoint.durationMs ?? 0,
      attempt: run.attempt,
    },
    event: { kind: 'succeeded', message: `nightly batch for ${date} done` },
  };
}

export type NightlyOutcome = 'succeeded' | 'already-done' | 'in-flight' | 'lost';

/**
 * One night's batch for `date`: the daily sales report, retention, and the consistency check, checkpointed after
 * every page so a killed run resumes where it stopped and produces the same report. Claimed per date, so a scheduled,
 * caught-up and manual run never both do the work.
 */
export async function runNightly(
  services: NightlyServices,
  date: string,
  options: { force?: boolean; inFlight?: InFlightSeen } = {},
): Promise<NightlyOutcome> {
  const jobId = nightlyJobId(date);
  const { runtime } = services;
  // Made by the request already when run on demand (its normal path meets it): no listing read for it here. A run
  // that goes on writes the job's row when its listing status changes (a reopen, its end, a poisoning); only a date
  // found done leaves the job as it is, and lists it (its run's host may have died between its end and its row).
  const created = await runtime.create(
    nightlyJob,
    {
      id: jobId,
      data: { date },
      progress: { step: 'report', index: 0, total: 4, percent: 0, message: `nightly batch for ${date}` },
      event: `nightly batch for ${date}`,
    },
    { ensureListed: false },
  );
  let job = created.job;
  const claim = await services.runs.claim(date, jobId, initialCheckpoint(), options.force === true);
  if (claim.kind === 'completed') {
    // The run record is marked succeeded before the job is ended: a host killed in between left the job running,
    // and no run will ever end it (every later delivery finds the record succeeded too). End it from the record, or
    // it says running for good while health counts the date done. A job failed meanwhile (its message poisoned) is
    // reopened likewise: the report was written and the record says so.
    if (job.status !== 'succeeded') {
      await runtime.update(nightlyJob, job.id, () => ({ ...succeeded(services, claim.run), reopen: true }), job);
    } else {
      // Left as it is: listed as it is (the run that ended it may have died between its end and its row).
      await runtime.ensureListed(job);
    }
    return 'already-done';
  }
  if (claim.kind === 'in-flight') {
    // Its owner may be dead: a run whose failure could not be recorded (the storage outage that failed it) is retried
    // within its lease, as is one whose host was killed when the message comes back sooner than the lease lapses.
    // Completing this delivery would then leave the date running for good (the timer asks only for the next date),
    // so the run is asked for again just after the lease lapses: a live owner has saved (or finished) by then, and
    // that delivery finds the run in flight (and asks again) or done; a dead one's run is taken over.
    // A queued message starts a dequeue count of its own, so a run that takes down every host that runs it (and can
    // record nothing) would go round for good, one host lost per lease. A run whose attempt moved since this message
    // was queued, with its checkpoint where it was, was taken over and is in flight again having saved nothing (most
    // likely by this message's own earlier delivery, whose host died too): after a few, this delivery fails instead,
    // and its retries end in the poison queue (a dead letter, the job failed) for a person to look. A live owner's
    // attempt does not move, and a run that saves progress between two looks (a long one cut by the host's function
    // timeout, resumed piece by piece) starts the count again.
    const seen = options.inFlight;
    const progress = progressOf(claim.run.checkpoint);
    const moved = seen !== undefined && seen.attempt !== claim.run.attempt;
    const stuck = seen?.progress === undefined || seen.progress === progress;
    const takeovers = moved ? (stuck ? seen.takeovers + 1 : 0) : (seen?.takeovers ?? 0);
    if (takeovers >= MAX_TAKEOVERS_IN_FLIGHT) {
      throw new BatchRunGivenUpError(
        `the run for ${date} was taken over ${takeovers} times and found in flight again with no progress saved: ` +
          'not asked for again (its hosts may be dying); replay its dead letter once the cause is fixed',
      );
    }
    const lapsesInMs = Math.max(services.runs.leaseLapsesAt(claim.run) - Date.now(), 0);
    await services.runAgainLater(date, lapsesInMs + LEASE_MARGIN_MS, {
      attempt: claim.run.attempt,
      takeovers,
      progress,
    });
    return 'in-flight';
  }
  let run: BatchRun = claim.run;
  job = await runtime.update(
    nightlyJob,
    job.id,
    () => ({
      status: 'running',
      reopen: true,
      error: null,
      attemptsIncrement: 1,
      event: {
        kind: 'run-started',
        message: claim.resumed
          ? `resumed at ${run.checkpoint.phase} after ${run.checkpoint.itemsDone} items`
          : `run ${run.attempt} started`,
      },
    }),
    job,
  );
  const startedAt = Date.now();
  let checkpoint = run.checkpoint;
  const save = async (next: BatchCheckpoint, message: string, index: number) => {
    run = await services.runs.checkpoint(run, next);
    checkpoint = next;
    job = await runtime.update(
      nightlyJob,
      job.id,
      () => ({ progress: { step: next.phase, index, total: 4, percent: Math.round((index / 4) * 100), message } }),
      job,
    );
  };
  try {
    if (checkpoint.phase === 'report') {
      for (;;) {
        const page = await services.sales.page(date, checkpoint.continuationToken);
        const next: BatchCheckpoint = {
          ...checkpoint,
          aggregate: aggregate(checkpoint.aggregate, page.facts),
          itemsDone: checkpoint.itemsDone + page.facts.length,
        };
        if (page.continuationToken) next.continuationToken = page.continuationToken;
        else delete next.continuationToken;
        await save(next, `${next.itemsDone} orders counted`, 0);
        if (!page.continuationToken) break;
      }
      await services.reports.createIfNotExists();
      const json = renderReportJson(date, checkpoint.aggregate);
      const csv = renderReportCsv(date, checkpoint.aggregate);
      await services.reports
        .getBlockBlobClient(`daily/${date}.json`)
        .upload(json, Buffer.byteLength(json), { blobHTTPHeaders: { blobContentType: 'application/json' } });
      await services.reports
        .getBlockBlobClient(`daily/${date}.csv`)
        .upload(csv, Buffer.byteLength(csv), { blobHTTPHeaders: { blobContentType: 'text/csv' } });
      await save({ ...checkpoint, phase: 'retention', findings: { ...checkpoint.findings } }, 'report written', 1);
    }
    if (checkpoint.phase === 'retention') {
      const now = Date.now();
      const protectedIds = new Set([job.id]);
      for (;;) {
        const deleted = await purgeJobsPage(services.jobs, new Date(now - services.retention.jobMs), protectedIds);
        if (deleted === 0) break;
        const findings = { ...checkpoint.findings, jobsDeleted: (checkpoint.findings['jobsDeleted'] ?? 0) + deleted };
        await save({ ...checkpoint, findings }, `${findings['jobsDeleted']} old jobs deleted`, 1);
      }
      const deadLettersDeleted = await purgeDeadLetters(
        services.deadLetters,
        new Date(now - services.retention.deadLetterMs),
      );
      const thumbnailsDeleted = await purgeOrphanThumbnails(services.thumbnails, services.uploads);
      const findings = {
        ...checkpoint.findings,
        jobsDeleted: checkpoint.findings['jobsDeleted'] ?? 0,
        deadLettersDeleted: (checkpoint.findings['deadLettersDeleted'] ?? 0) + deadLettersDeleted,
        thumbnailsDeleted: (checkpoint.findings['thumbnailsDeleted'] ?? 0) + thumbnailsDeleted,
      };
      await save({ ...checkpoint, phase: 'consistency', findings }, 'retention done', 2);
    }
    if (checkpoint.phase === 'consistency') {
      const { released, consumed, takenAsShipped } = await reconcileReservations(
        services.inventoryTable,
        services.inventory,
        services.jobs,
        { now: new Date(), jobRetentionMs: services.retention.jobMs },
      );
      const handed = await services.superviseStuckOrders();
      const findings = {
        ...checkpoint.findings,
        reservationsReleased: (checkpoint.findings['reservationsReleased'] ?? 0) + released.length,
        reservationsConsumed:
          (checkpoint.findings['reservationsConsumed'] ?? 0) + consumed.length + takenAsShipped.length,
        stuckOrdersHandedToSupervisor: handed,
      };
      // Consuming a succeeded order's reservation is routine (counted only); taking one as shipped because its order
      // is gone is a judgement, so it is on the timeline with the releases.
      if (released.length > 0 || takenAsShipped.length > 0) {
        job = await runtime.update(
          nightlyJob,
          job.id,
          () => ({
            events: [
              ...released.map((orphan) => ({
                kind: 'reservation-released',
                message: `${orphan.quantity} × ${orphan.sku} held by ${orphan.orderKey}: ${orphan.reason}`,
              })),
              ...takenAsShipped.map((reservation) => ({
                kind: 'reservation-consumed',
                message: `${reservation.quantity} × ${reservation.sku} held by ${reservation.orderKey}: ${reservation.reason}`,
              })),
            ],
          }),
          job,
        );
      }
      await save({ ...checkpoint, phase: 'done', findings }, 'consistency checked', 3);
    }
    run = await services.runs.checkpoint(run, { ...checkpoint, durationMs: Date.now() - startedAt }, 'succeeded');
    await runtime.update(nightlyJob, job.id, () => succeeded(services, run), job);
    return 'succeeded';
  } catch (error) {
    if ((error as { code?: string }).code === 'BATCH_RUN_LOST') return 'lost';
    // Release the claim at once (keeping the checkpoint), so the retry resumes without waiting for the lease.
    await services.runs.checkpoint(run, checkpoint, 'failed').catch(() => undefined);
    const { error: failure } = classifyFailure(error);
    await runtime.update(
      nightlyJob,
      job.id,
      () => ({
        error: { code: 'BATCH_FAILED', message: failure.message },
        event: { kind: 'attempt-failed', message: `${failure.code}: ${failure.message}` },
      }),
      job,
    );
    throw error;
  }
}
