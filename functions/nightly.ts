import { app, type Timer } from '@azure/functions';
import { z } from 'zod';

import { BatchRunStore } from '../shared/batch/batchRunStore';
import { datesToRun } from '../shared/batch/catchUp';
import {
  isValidDate,
  NIGHTLY_JOB_TYPE,
  nightlyJobId,
  type NightlyServices,
  runNightly,
} from '../shared/batch/nightlyBatch';
import { recordPoisonedMessage } from '../shared/deadletters/poisonMessages';
import { jobStatusUrl } from '../shared/http/apiRoutes';
import { json, problem } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { orderServices } from '../shared/orderServices';
import { asText } from '../shared/storage/entityValues';
import { superviseOrders } from '../shared/workflow/orderSupervisor';

const services = orderServices();
const { names, config, storage } = services.app;
const runs = new BatchRunStore(storage.table(names.tables.batchRuns), config.nightly.leaseMs);

function nightlyServices(log: (line: string) => void): NightlyServices {
  return {
    jobs: services.jobs,
    runs,
    sales: services.app.sales,
    deadLetters: services.app.deadLetters,
    inventory: services.inventory,
    inventoryTable: storage.table(names.tables.inventory),
    reports: storage.blobs.getContainerClient(names.containers.reports),
    uploads: storage.blobs.getContainerClient(names.containers.uploads),
    thumbnails: storage.blobs.getContainerClient(names.containers.thumbnails),
    retention: config.retention,
    superviseStuckOrders: async () => {
      const report = await superviseOrders(services, {
        stepDeadlineMs: config.orders.stepDeadlineMs,
        maxRedrives: config.orders.maxRedrives,
      });
      return report.redriven.length + report.gaveUp.length;
    },
    log,
  };
}

const runMessage = z.object({
  date: z.string().refine(isValidDate, 'must be a date YYYY-MM-DD'),
  force: z.boolean().optional(),
});

/** The schedule: one instance across all hosts (the timer's singleton lock), the monitor on for past-due catch-up. */
app.timer('nightlyBatch', {
  schedule: config.nightly.schedule,
  useMonitor: true,
  handler: async (timer: Timer, context) => {
    await services.ready();
    await runs.ensureTable();
    const last = timer.scheduleStatus?.last ? new Date(timer.scheduleStatus.last) : undefined;
    const dates = datesToRun(new Date(), timer.isPastDue, last, config.nightly.maxCatchUpDays);
    for (const date of dates) await services.sender.send(names.queues.nightlyRun, { date });
    context.log(`nightly batch queued for ${dates.join(', ')}${timer.isPastDue ? ' (past due: catching up)' : ''}`);
  },
});

/** Runs one date's batch from its queue, so a long run is not bound to the timer invocation. */
app.storageQueue('nightlyRun', {
  queueName: names.queues.nightlyRun,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    await runs.ensureTable();
    const parsed = runMessage.safeParse(message);
    if (!parsed.success) {
      context.warn(`ignoring an invalid nightly run message: ${parsed.error.issues[0]?.message ?? ''}`);
      return;
    }
    const outcome = await runNightly(
      nightlyServices((line) => context.log(line)),
      parsed.data.date,
      {
        ...(parsed.data.force ? { force: true } : {}),
      },
    );
    context.log(`nightly batch for ${parsed.data.date}: ${outcome}`);
  },
});

const runRequest = z
  .object({
    date: z.string().refine(isValidDate, 'must be a date YYYY-MM-DD').optional(),
    force: z.boolean().optional(),
  })
  .strict();

app.http('runNightlyBatch', {
  route: 'batch/nightly/run',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const body =
      request.headers.get('content-length') === '0'
        ? { ok: true as const, value: {} }
        : await parseJsonBody(request, runRequest);
    if (!body.ok) return body.response;
    const today = new Date().toISOString().slice(0, 10);
    const date = body.value.date ?? new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    if (date > today)
      return problem(400, 'validation', 'The request is not valid', 'date: must not be in the future', {
        errors: [{ field: 'date', message: 'must not be in the future' }],
      });
    await services.ready();
    await runs.ensureTable();
    const existing = await runs.get(date);
    if (existing?.state === 'running' && !runs.isStale(existing)) {
      return problem(409, 'run-in-flight', 'Run in flight', `the nightly batch for ${date} is running`, {
        jobId: existing.jobId,
      });
    }
    const requested = await services.jobs.get(nightlyJobId(date));
    if (requested?.status === 'queued' && Date.now() - Date.parse(requested.updatedAt) < config.nightly.leaseMs) {
      return problem(409, 'run-in-flight', 'Run in flight', `the nightly batch for ${date} is queued to run`, {
        jobId: requested.id,
      });
    }
    if (existing?.state === 'succeeded' && body.value.force !== true) {
      return problem(
        409,
        'run-completed',
        'Already run',
        `the nightly batch for ${date} has completed; send {"force": true} to run it again`,
        { jobId: existing.jobId },
      );
    }
    const jobId = nightlyJobId(date);
    // The job exists before the run starts, so its status URL answers at once.
    await services.jobs.create({
      id: jobId,
      type: NIGHTLY_JOB_TYPE,
      data: { date },
      event: `nightly batch for ${date} requested`,
    });
    await services.sender.send(names.queues.nightlyRun, { date, ...(body.value.force ? { force: true } : {}) });
    const statusUrl = jobStatusUrl(jobId);
    return json(202, { jobId, date, statusUrl }, { location: statusUrl, 'retry-after': '2' });
  },
});

/** A nightly run message that failed every time: recorded as a dead letter (the run itself can be re-run on demand). */
app.storageQueue('nightlyRunPoison', {
  queueName: `${names.queues.nightlyRun}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const metadata = context.triggerMetadata ?? {};
    const body = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    const date = typeof body['date'] === 'string' && isValidDate(body['date']) ? body['date'] : undefined;
    const letter = await recordPoisonedMessage(
      services.app,
      {
        poisonQueue: `${names.queues.nightlyRun}-poison`,
        messageId: asText(metadata['id'], context.invocationId),
        insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
        text: asText(metadata['queueTrigger'], JSON.stringify(message)),
      },
      { kind: 'queue', queue: names.queues.nightlyRun },
      date ? nightlyJobId(date) : undefined,
      5,
    );
    context.warn(`nightly run message dead-lettered as ${letter.id}`);
  },
});
