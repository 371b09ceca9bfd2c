import { app } from '@azure/functions';

import { downloadExport } from '../shared/exports/exportDownload';
import { handleExportMessage, recordPoisonedExport, requestExport } from '../shared/exports/exportMessages';
import { exportRequestSchema } from '../shared/exports/exportRequest';
import { exportServices } from '../shared/exports/exportServices';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { idempotencyKeyReused, json, notFound, problem, validationProblem } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { isValidJobId } from '../shared/jobs/jobStore';
import { queueDeliveryOf } from '../shared/jobs/queueDelivery';

const services = exportServices();
const { queue } = services;
const noExport = (id: string) => notFound(`no export ${JSON.stringify(id.slice(0, 100))}`);

/**
 * Admin only: an export holds every customer's orders of the period. An optional `Idempotency-Key` makes a retry
 * return (and, while it has not started, queue again) the first request's export instead of making a second.
 */
app.http('createExport', {
  route: 'exports',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, exportRequestSchema());
    if (!parsed.ok) return parsed.response;
    await services.ready();
    const started = await requestExport(services, parsed.value, request.headers.get('idempotency-key') ?? undefined);
    switch (started.outcome) {
      case 'accepted': {
        const statusUrl = jobStatusUrl(started.jobId);
        return json(
          202,
          { jobId: started.jobId, statusUrl },
          { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) },
        );
      }
      case 'invalid':
        return validationProblem(started.errors);
      case 'idempotency-key-reused':
        return idempotencyKeyReused();
      default: {
        const never: never = started;
        throw new Error(`unknown outcome ${JSON.stringify(never)}`);
      }
    }
  },
});

app.storageQueue('exportRun', {
  queueName: queue,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const handled = await handleExportMessage(services, queueDeliveryOf(context, queue, message), message);
    if (handled.outcome === 'malformed') {
      context.warn(`malformed message on ${queue} recorded as dead letter ${handled.deadLetter.id}`);
    } else {
      context.log(`export ${handled.jobId}: ${handled.execution.outcome}`);
    }
  },
});

/** An export message that failed every delivery: a dead letter, and the job failed (a replay resumes it). */
app.storageQueue('exportRunPoison', {
  queueName: `${queue}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await services.ready();
    const delivery = queueDeliveryOf(context, `${queue}-poison`, message);
    const letter = await recordPoisonedExport(services, delivery, message);
    context.warn(`export message dead-lettered as ${letter.id}`);
  },
});

/** The finished file, for admins only (`authLevel: 'admin'`: the master key). */
app.http('downloadExport', {
  route: 'exports/{id}/file',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return noExport(id);
    await services.ready();
    return downloadExport(services, id);
  },
});

/** Stops an export: it ends `cancelled` at once; a run in progress stops at its next page and commits nothing. */
app.http('cancelExport', {
  route: 'exports/{id}/cancel',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return noExport(id);
    await services.ready();
    const cancelled = await services.runtime.cancel(services.job, id);
    switch (cancelled.outcome) {
      case 'not-found':
        return notFound(`no export ${id}`);
      case 'refused':
        return problem(409, 'not-cancellable', 'Not cancellable', cancelled.reason);
      case 'requested':
      case 'cancelled':
        return json(
          202,
          { jobId: id, status: cancelled.job.status, statusUrl: jobStatusUrl(id) },
          { location: jobStatusUrl(id) },
        );
      default: {
        const unknown: never = cancelled;
        throw new Error(`unknown cancel outcome ${JSON.stringify(unknown)}`);
      }
    }
  },
});
