import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { downloadExport } from '../shared/exports/exportDownload';
import {
  defineExportJob,
  EXPORT_JOB_ID_PREFIX,
  exportDownloadPath,
  exportMessageSchema,
  startExport,
} from '../shared/exports/exportJob';
import { exportRequestSchema } from '../shared/exports/exportRequest';
import { ledgerOrderPages } from '../shared/exports/orderPages';
import { jobStatusUrl, publicApiUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound, problem } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { MALFORMED_MESSAGE_CODE, PermanentJobError } from '../shared/jobs/jobErrors';
import { decodeMessage } from '../shared/jobs/jobMessages';
import { isValidJobId, JobStore } from '../shared/jobs/jobStore';
import { queueDeliveryOf } from '../shared/jobs/queueDelivery';
import { queueSender } from '../shared/workflow/queueSender';

const { names, storage, runtime, sales, ready } = appServices();
/** host.json extensions.queues.maxDequeueCount: deliveries before a message is poisoned. */
const MAX_DEQUEUE_COUNT = 5;
const queue = names.queues.exports;
const exportsContainer = storage.blobs.getContainerClient(names.containers.exports);
const exportJob = defineExportJob({
  runtime,
  orders: ledgerOrderPages(sales),
  exports: exportsContainer,
  queue,
  downloadUrl: (jobId) => publicApiUrl(exportDownloadPath(jobId)),
});
const sender = queueSender(storage.queues);
let exportsReady: Promise<unknown> | undefined;

async function servicesReady(): Promise<void> {
  await ready();
  exportsReady ??= exportsContainer.createIfNotExists().catch((error: unknown) => {
    exportsReady = undefined;
    throw error;
  });
  await exportsReady;
}

/** Admin only: an export holds every customer's orders of the period. */
app.http('createExport', {
  route: 'exports',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, exportRequestSchema());
    if (!parsed.ok) return parsed.response;
    await servicesReady();
    const jobId = JobStore.newJobId(EXPORT_JOB_ID_PREFIX);
    await startExport({ runtime, job: exportJob, sender, queue }, parsed.value, jobId);
    const statusUrl = jobStatusUrl(jobId);
    return json(202, { jobId, statusUrl }, { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) });
  },
});

app.storageQueue('exportRun', {
  queueName: queue,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await servicesReady();
    let jobId: string;
    try {
      ({ jobId } = decodeMessage(exportMessageSchema, message, 'an export message'));
    } catch (error) {
      if (!(error instanceof PermanentJobError) || error.code !== MALFORMED_MESSAGE_CODE) throw error;
      const letter = await runtime.recordMalformed(queueDeliveryOf(context, queue, message), error.message);
      context.warn(`malformed message on ${queue} recorded as dead letter ${letter.id}`);
      return;
    }
    const { outcome } = await runtime.execute(exportJob, jobId);
    context.log(`export ${jobId}: ${outcome}`);
  },
});

/** An export message that failed every delivery: a dead letter, and the job failed (a replay resumes it). */
app.storageQueue('exportRunPoison', {
  queueName: `${queue}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    await servicesReady();
    const delivery = queueDeliveryOf(context, `${queue}-poison`, message);
    const parsed = exportMessageSchema.safeParse(message);
    const letter = await runtime.recordPoison(
      { ...delivery, poisonQueue: delivery.queue },
      { kind: 'queue', queue },
      parsed.success ? parsed.data.jobId : undefined,
      MAX_DEQUEUE_COUNT,
    );
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
    if (!isValidJobId(id)) return notFound(`no export ${JSON.stringify(id.slice(0, 100))}`);
    await servicesReady();
    return downloadExport({ runtime, job: exportJob, exports: exportsContainer }, id);
  },
});

/** Stops an export: it ends `cancelled` at once; a run in progress stops at its next page and commits nothing. */
app.http('cancelExport', {
  route: 'exports/{id}/cancel',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no export ${JSON.stringify(id.slice(0, 100))}`);
    await servicesReady();
    const cancelled = await runtime.cancel(exportJob, id);
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
