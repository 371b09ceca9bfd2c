import { app, type Timer } from '@azure/functions';

import { BatchRunStore } from '../shared/batch/batchRunStore';
import { nightlyJobId, type NightlyServices, runNightly } from '../shared/batch/nightlyBatch';
import {
  nightlyRunMessageSchema,
  nightlyRunRequestSchema,
  requestNightlyRun,
  scheduleNightlyRuns,
} from '../shared/batch/nightlyRequests';
import { jobStatusUrl } from '../shared/http/apiRoutes';
import { json, problem } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { orderServices } from '../shared/orderServices';
import { MAX_DEQUEUE_COUNT } from '../shared/workflow/orderMessages';
import { superviseOrders } from '../shared/workflow/orderSupervisor';

const services = orderServices();
const { names, config, storage } = services.app;
const runs = new BatchRunStore(storage.table(names.tables.batchRuns), config.nightly.leaseMs);

const requestServices = {
  runtime: services.runtime,
  runs,
  sender: services.sender,
  runQueue: names.queues.nightlyRun,
  leaseMs: config.nightly.leaseMs,
};

function nightlyServices(log: (line: string) => void): NightlyServices {
  return {
    runtime: services.runtime,
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

/** The schedule: one instance across all hosts (the timer's singleton lock), the monitor on for past-due catch-up. */
app.timer('nightlyBatch', {
  schedule: config.nightly.schedule,
  useMonitor: true,
  handler: async (timer: Timer, context) => {
    await services.ready();
    const dates = await scheduleNightlyRuns(requestServices, {
      now: new Date(),
      isPastDue: timer.isPastDue,
      last: timer.scheduleStatus?.last ? new Date(timer.scheduleStatus.last) : undefined,
      maxCatchUpDays: config.nightly.maxCatchUpDays,
    });
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
    const parsed = nightlyRunMessageSchema.safeParse(message);
    if (!parsed.success) {
      context.warn(`ignoring an invalid nightly run message: ${parsed.error.issues[0]?.message ?? ''}`);
      return;
    }
    const { date, force } = parsed.data;
    const outcome = await runNightly(
      nightlyServices((line) => context.log(line)),
      date,
      force ? { force } : {},
    );
    context.log(`nightly batch for ${date}: ${outcome}`);
  },
});

app.http('runNightlyBatch', {
  route: 'batch/nightly/run',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const body =
      request.headers.get('content-length') === '0'
        ? { ok: true as const, value: {} }
        : await parseJsonBody(request, nightlyRunRequestSchema);
    if (!body.ok) return body.response;
    await services.ready();
    await runs.ensureTable();
    const requested = await requestNightlyRun(requestServices, body.value);
    switch (requested.outcome) {
      case 'accepted': {
        const statusUrl = jobStatusUrl(requested.jobId);
        return json(
          202,
          { jobId: requested.jobId, date: requested.date, statusUrl },
          { location: statusUrl, 'retry-after': '2' },
        );
      }
      case 'invalid':
        return problem(400, 'validation', 'The request is not valid', `${requested.field}: ${requested.message}`, {
          errors: [{ field: requested.field, message: requested.message }],
        });
      case 'in-flight':
        return problem(409, 'run-in-flight', 'Run in flight', requested.message, { jobId: requested.jobId });
      case 'completed':
        return problem(409, 'run-completed', 'Already run', requested.message, { jobId: requested.jobId });
      default: {
        const never: never = requested;
        throw new Error(`unknown outcome ${JSON.stringify(never)}`);
      }
    }
  },
});

/** A nightly run message that failed every time: recorded as a dead letter (the run itself can be re-run on demand). */
app.storageQueue('nightlyRunPoison', {
  queueName: `${names.queues.nightlyRun}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const delivery = queueDeliveryOf(context, `${names.queues.nightlyRun}-poison`, message);
    const parsed = nightlyRunMessageSchema.safeParse(message);
    const letter = await services.runtime.recordPoison(
      { ...delivery, poisonQueue: delivery.queue },
      { kind: 'queue', queue: names.queues.nightlyRun },
      parsed.success ? nightlyJobId(parsed.data.date) : undefined,
      MAX_DEQUEUE_COUNT,
    );
    context.warn(`nightly run message dead-lettered as ${letter.id}`);
  },
});
