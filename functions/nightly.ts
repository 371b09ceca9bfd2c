import { app, type Timer } from '@azure/functions';

import {
  handleNightlyRunMessage,
  recordPoisonedNightlyRun,
  requestNightlyRunNow,
} from '../shared/batch/nightlyMessages';
import { nightlyRunRequestSchema, scheduleNightlyRuns } from '../shared/batch/nightlyRequests';
import { nightlyAppServices } from '../shared/batch/nightlyServices';
import { jobStatusUrl } from '../shared/http/apiRoutes';
import { json, problem } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { orderServices } from '../shared/orderServices';

const services = orderServices();
const nightly = nightlyAppServices(services);
const { names, config } = services.app;

/** The schedule: one instance across all hosts (the timer's singleton lock), the monitor on for past-due catch-up. */
app.timer('nightlyBatch', {
  schedule: config.nightly.schedule,
  useMonitor: true,
  handler: async (timer: Timer, context) => {
    await services.ready();
    const dates = await scheduleNightlyRuns(nightly.requests, {
      now: new Date(),
      isPastDue: timer.isPastDue,
      last: timer.scheduleStatus?.last ? new Date(timer.scheduleStatus.last) : undefined,
      maxCatchUpDays: nightly.maxCatchUpDays,
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
    const handled = await handleNightlyRunMessage(
      nightly.batch((line) => context.log(line)),
      message,
    );
    if (handled.outcome === 'invalid') context.warn(`ignoring an invalid nightly run message: ${handled.reason}`);
    else context.log(`nightly batch for ${handled.date}: ${handled.result}`);
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
    const requested = await requestNightlyRunNow(nightly.requests, body.value);
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
    const letter = await recordPoisonedNightlyRun(nightly.requests, delivery, message);
    context.warn(`nightly run message dead-lettered as ${letter.id}`);
  },
});
