import { app, type InvocationContext } from '@azure/functions';
import { z } from 'zod';

import { appServices } from '../shared/appServices';
import { DeadLetterConflictError, isValidDeadLetterId } from '../shared/deadletters/deadLetterStore';
import { blobPoisonMessage, recordPoisonedMessage } from '../shared/deadletters/poisonMessages';
import { jobStatusUrl } from '../shared/http/apiRoutes';
import { continuationTokenSchema } from '../shared/http/continuationToken';
import { json, notFound, problem, validationProblem } from '../shared/http/problem';
import { fieldProblems } from '../shared/http/requestBody';
import { asText } from '../shared/storage/entityValues';
import { BLOB_TRIGGER_POISON_QUEUE } from '../shared/storage/resourceNames';
import { resolveThumbnailJobId } from '../shared/thumbnails/thumbnailJob';

const { names } = appServices();
/** The host's blobs.poisonBlobThreshold in host.json: how often a blob was tried before it was poisoned. */
const POISON_BLOB_THRESHOLD = 3;
/** A poison message of another app sharing this storage account goes back, visible again after this long. */
const FOREIGN_MESSAGE_DELAY_SECONDS = 2;

function deliveryOf(context: InvocationContext, poisonQueue: string, message: unknown) {
  const metadata = context.triggerMetadata ?? {};
  const raw = metadata['queueTrigger'];
  return {
    poisonQueue,
    messageId: asText(metadata['id'], context.invocationId),
    insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
    text: typeof raw === 'string' ? raw : typeof message === 'string' ? message : JSON.stringify(message),
  };
}

/**
 * Blob trigger poison: every app on a storage account shares `webjobs-blobtrigger-poison`, so a message for a
 * container this app does not own is put back for its owner instead of being recorded here.
 */
app.storageQueue('blobPoison', {
  queueName: BLOB_TRIGGER_POISON_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const services = appServices();
    await services.ready();
    const delivery = deliveryOf(context, BLOB_TRIGGER_POISON_QUEUE, message);
    let parsed: z.infer<typeof blobPoisonMessage> | undefined;
    try {
      parsed = blobPoisonMessage.parse(JSON.parse(delivery.text));
    } catch {
      parsed = undefined;
    }
    if (parsed && parsed.ContainerName !== names.containers.uploads) {
      await services.storage.queues
        .getQueueClient(BLOB_TRIGGER_POISON_QUEUE)
        .sendMessage(Buffer.from(delivery.text).toString('base64'), {
          visibilityTimeout: FOREIGN_MESSAGE_DELAY_SECONDS,
        });
      return;
    }
    const jobId = parsed
      ? await resolveThumbnailJobId(services.jobs, parsed.ContainerName, parsed.BlobName, parsed.ETag)
      : undefined;
    const letter = await recordPoisonedMessage(
      services,
      delivery,
      parsed
        ? {
            kind: 'blob',
            container: parsed.ContainerName,
            blobName: parsed.BlobName,
            etag: parsed.ETag,
            functionId: parsed.FunctionId,
          }
        : { kind: 'queue', queue: BLOB_TRIGGER_POISON_QUEUE },
      jobId,
      POISON_BLOB_THRESHOLD,
    );
    context.log(
      `dead letter ${letter.id} recorded for ${parsed ? `${parsed.ContainerName}/${parsed.BlobName}` : 'an unreadable message'}`,
    );
  },
});

const listQuery = z.object({
  state: z.enum(['open', 'replayed', 'discarded']).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  continuationToken: continuationTokenSchema.optional(),
});

app.http('listDeadLetters', {
  route: 'deadletters',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = listQuery.safeParse(Object.fromEntries(request.query.entries()));
    if (!parsed.success) return validationProblem(fieldProblems(parsed.error.issues));
    const { deadLetters, ready } = appServices();
    await ready();
    const page = await deadLetters.list({
      ...(parsed.data.state ? { state: parsed.data.state } : {}),
      ...(parsed.data.limit ? { limit: parsed.data.limit } : {}),
      ...(parsed.data.continuationToken ? { continuationToken: parsed.data.continuationToken } : {}),
    });
    return json(200, page);
  },
});

app.http('getDeadLetter', {
  route: 'deadletters/{id}',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    const { deadLetters, ready } = appServices();
    await ready();
    const letter = isValidDeadLetterId(id) ? await deadLetters.get(id) : undefined;
    return letter ? json(200, letter) : notFound(`no dead letter ${JSON.stringify(id.slice(0, 100))}`);
  },
});

app.http('replayDeadLetter', {
  route: 'deadletters/{id}/replay',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    const services = appServices();
    await services.ready();
    if (!isValidDeadLetterId(id)) return notFound(`no dead letter ${JSON.stringify(id.slice(0, 100))}`);
    const replay = await services.runtime.replay(id, 'replayed through the API');
    switch (replay.outcome) {
      case 'not-found':
        return notFound(`no dead letter ${JSON.stringify(id.slice(0, 100))}`);
      case 'conflict':
        return problem(409, 'conflict', 'Dead letter is not open', replay.message);
      case 'failed':
        return replay.sourceGone
          ? problem(409, 'source-gone', 'The replay could not be sent', replay.reason)
          : problem(503, 'replay-failed', 'The replay could not be sent', replay.reason);
      case 'replayed': {
        const letter = replay.deadLetter;
        return json(202, {
          deadLetter: letter,
          ...(letter.jobId ? { jobId: letter.jobId, statusUrl: jobStatusUrl(letter.jobId) } : {}),
        });
      }
      default: {
        const never: never = replay;
        throw new Error(`unknown replay outcome ${JSON.stringify(never)}`);
      }
    }
  },
});

app.http('discardDeadLetter', {
  route: 'deadletters/{id}',
  methods: ['DELETE'],
  authLevel: 'admin',
  handler: async (request) => {
    const id = request.params['id'] ?? '';
    const { deadLetters, ready } = appServices();
    await ready();
    if (!isValidDeadLetterId(id)) return notFound(`no dead letter ${JSON.stringify(id.slice(0, 100))}`);
    try {
      const letter = await deadLetters.transition(id, 'discarded', 'discarded through the API');
      return letter ? json(200, letter) : notFound(`no dead letter ${id}`);
    } catch (error) {
      if (error instanceof DeadLetterConflictError)
        return problem(409, 'conflict', 'Dead letter is not open', error.message);
      throw error;
    }
  },
});
