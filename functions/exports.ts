import { app, type InvocationContext } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { deadLetterId } from '../shared/deadletters/deadLetterStore';
import { recordPoisonedMessage } from '../shared/deadletters/poisonMessages';
import { downloadExport } from '../shared/exports/exportDownload';
import {
  EXPORT_JOB_ID_PREFIX,
  exportMessageSchema,
  type ExportServices,
  processExportMessage,
  startExport,
} from '../shared/exports/exportJob';
import { exportRequestSchema } from '../shared/exports/exportRequest';
import { ledgerOrderPages } from '../shared/exports/orderPages';
import { jobStatusUrl, RETRY_AFTER_SECONDS } from '../shared/http/apiRoutes';
import { json, notFound } from '../shared/http/problem';
import { parseJsonBody } from '../shared/http/requestBody';
import { isValidJobId, JobStore } from '../shared/jobs/jobStore';
import { asText } from '../shared/storage/entityValues';
import { queueSender } from '../shared/workflow/queueSender';

const shared = appServices();
const { names, storage } = shared;
/** host.json extensions.queues.maxDequeueCount: deliveries before a message is poisoned. */
const MAX_DEQUEUE_COUNT = 5;
const container = storage.blobs.getContainerClient(names.containers.exports);
let containerReady: Promise<unknown> | undefined;

async function services(log?: (line: string) => void): Promise<ExportServices> {
  await shared.ready();
  containerReady ??= container.createIfNotExists().catch((error: unknown) => {
    containerReady = undefined;
    throw error;
  });
  await containerReady;
  return {
    jobs: shared.jobs,
    deadLetters: shared.deadLetters,
    orders: ledgerOrderPages(shared.sales),
    exports: container,
    sender: queueSender(storage.queues),
    queue: names.queues.exports,
    ...(log ? { log } : {}),
  };
}

function delivery(context: InvocationContext, message: unknown) {
  const metadata = context.triggerMetadata ?? {};
  return {
    messageId: asText(metadata['id'], context.invocationId),
    insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
    text: asText(metadata['queueTrigger'], typeof message === 'string' ? message : JSON.stringify(message)),
    dequeueCount: Number(metadata['dequeueCount'] ?? 1),
  };
}

/** Admin only: an export holds every customer's orders of the period. */
app.http('createExport', {
  route: 'exports',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = await parseJsonBody(request, exportRequestSchema());
    if (!parsed.ok) return parsed.response;
    const jobId = JobStore.newJobId(EXPORT_JOB_ID_PREFIX);
    await startExport(await services(), parsed.value, jobId, new URL(request.url).origin);
    const statusUrl = jobStatusUrl(request, jobId);
    return json(202, { jobId, statusUrl }, { location: statusUrl, 'retry-after': String(RETRY_AFTER_SECONDS) });
  },
});

app.storageQueue('exportRun', {
  queueName: names.queues.exports,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const exports = await services((line) => context.log(line));
    const parsed = exportMessageSchema.safeParse(message);
    if (!parsed.success) {
      // No retry can fix a message that does not parse: straight to the dead letters.
      const received = delivery(context, message);
      const { deadLetter } = await exports.deadLetters.record({
        id: deadLetterId(received.messageId, received.insertedAt, names.queues.exports),
        source: { kind: 'queue', queue: names.queues.exports },
        body: received.text,
        dequeueCount: received.dequeueCount,
        error: {
          code: 'MALFORMED_MESSAGE',
          message: `not an export message: ${parsed.error.issues[0]?.message ?? ''}`,
        },
        deadLetteredAt: new Date().toISOString(),
      });
      context.warn(`malformed message on ${names.queues.exports} recorded as dead letter ${deadLetter.id}`);
      return;
    }
    const outcome = await processExportMessage(exports, parsed.data);
    context.log(`export ${parsed.data.jobId}: ${outcome}`);
  },
});

/** An export message that failed every delivery: a dead letter, and the job failed (replay resumes it). */
app.storageQueue('exportRunPoison', {
  queueName: `${names.queues.exports}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const exports = await services();
    const received = delivery(context, message);
    const parsed = exportMessageSchema.safeParse(message);
    const letter = await recordPoisonedMessage(
      exports,
      { poisonQueue: `${names.queues.exports}-poison`, ...received },
      { kind: 'queue', queue: names.queues.exports },
      parsed.success ? parsed.data.jobId : undefined,
      MAX_DEQUEUE_COUNT,
    );
    context.warn(`export message dead-lettered as ${letter.id}`);
  },
});

/** The finished file, for admins only; anyone else, or a job that is not a finished export, gets 401/404. */
app.http('downloadExport', {
  route: 'exports/{id}/file',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    if (!isValidJobId(id)) return notFound(`no export ${JSON.stringify(id.slice(0, 100))}`);
    return downloadExport(await services(), id);
  },
});
