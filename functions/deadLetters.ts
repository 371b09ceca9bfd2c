import { app } from '@azure/functions';

import { appServices } from '../shared/appServices';
import { handleBlobPoisonMessage } from '../shared/deadletters/blobPoison';
import { blobPoisonPorts } from '../shared/deadletters/blobPoisonPorts';
import { deadLetterListQuery, discardDeadLetter } from '../shared/deadletters/deadLetterRequests';
import { isValidDeadLetterId } from '../shared/deadletters/deadLetterStore';
import { jobStatusUrl } from '../shared/http/apiRoutes';
import { json, notFound, problem, validationProblem } from '../shared/http/problem';
import { fieldProblems } from '../shared/http/requestBody';
import { queueDeliveryOf, queueReceiptOf } from '../shared/jobs/queueDelivery';
import { BLOB_TRIGGER_POISON_QUEUE } from '../shared/storage/resourceNames';

const noDeadLetter = (id: string) => notFound(`no dead letter ${JSON.stringify(id.slice(0, 100))}`);

/** Blob trigger poison, shared by every app on the account: see handleBlobPoisonMessage. */
app.storageQueue('blobPoison', {
  queueName: BLOB_TRIGGER_POISON_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const services = appServices();
    await services.ready();
    const { queue, messageId, insertedAt, text } = queueDeliveryOf(context, BLOB_TRIGGER_POISON_QUEUE, message);
    const receipt = queueReceiptOf(context);
    const handled = await handleBlobPoisonMessage(
      blobPoisonPorts(services),
      { poisonQueue: queue, messageId, insertedAt, text },
      receipt,
    );
    switch (handled.outcome) {
      case 'recorded':
        context.log(`dead letter ${handled.deadLetter.id} recorded for ${handled.subject ?? 'an unreadable message'}`);
        return;
      case 'left-for-owner':
        context.log(
          `poison message ${messageId} is for container ${handled.container} of another app: left on the queue` +
            (handled.hiddenForSeconds === undefined
              ? ''
              : ` (receive ${receipt?.dequeueCount ?? 1}, hidden for ${handled.hiddenForSeconds} s)`),
        );
        return;
      default: {
        const never: never = handled;
        throw new Error(`unknown blob poison outcome ${JSON.stringify(never)}`);
      }
    }
  },
});

app.http('listDeadLetters', {
  route: 'deadletters',
  methods: ['GET'],
  authLevel: 'admin',
  handler: async (request) => {
    const parsed = deadLetterListQuery.safeParse(Object.fromEntries(request.query.entries()));
    if (!parsed.success) return validationProblem(fieldProblems(parsed.error.issues));
    const { deadLetters, ready } = appServices();
    await ready();
    return json(200, await deadLetters.list(parsed.data));
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
    return letter ? json(200, letter) : noDeadLetter(id);
  },
});

app.http('replayDeadLetter', {
  route: 'deadletters/{id}/replay',
  methods: ['POST'],
  authLevel: 'admin',
  handler: async (request, context) => {
    const id = request.params['id'] ?? '';
    const services = appServices();
    await services.ready();
    if (!isValidDeadLetterId(id)) return noDeadLetter(id);
    const replay = await services.runtime.withLog(context).replay(id, 'replayed through the API');
    switch (replay.outcome) {
      case 'not-found':
        return noDeadLetter(id);
      case 'conflict':
        return problem(409, 'conflict', 'Dead letter is not open', replay.message);
      case 'failed':
        return replay.sourceGone
          ? problem(409, 'source-gone', 'The replay could not be sent', replay.reason)
          : problem(503, 'replay-failed', 'The replay could not be sent', replay.reason);
      case 'replayed': {
        const { deadLetter } = replay;
        const { jobId } = deadLetter;
        return json(202, { deadLetter, ...(jobId ? { jobId, statusUrl: jobStatusUrl(jobId) } : {}) });
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
    if (!isValidDeadLetterId(id)) return noDeadLetter(id);
    const discarded = await discardDeadLetter(deadLetters, id, 'discarded through the API');
    switch (discarded.outcome) {
      case 'discarded':
        return json(200, discarded.deadLetter);
      case 'not-found':
        return notFound(`no dead letter ${id}`);
      case 'conflict':
        return problem(409, 'conflict', 'Dead letter is not open', discarded.message);
      default: {
        const never: never = discarded;
        throw new Error(`unknown discard outcome ${JSON.stringify(never)}`);
      }
    }
  },
});
