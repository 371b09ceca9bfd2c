import type { BlobTriggerQueue } from '../blob/blobTriggerQueue';
import type { HostLogger } from '../log';
import { allowedOriginFor, blobTriggerMessagesFrom, validationCodeFrom } from './blobEventNotification';
import type { ExtensionWebhook, WebhookResponse } from './runtimeWebhooks';

export interface BlobsWebhookOptions {
  /** Where deliveries go: the host's blob trigger queue. */
  queue: Pick<BlobTriggerQueue, 'enqueue'>;
  /** Whether a `functionName` names a blob function of this app (`Host.Functions.<name>` or `Functions.<name>`). */
  resolveFunctionId(functionName: string): string | undefined;
  logger: HostLogger;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function problem(status: number, title: string, detail: string, field?: string): WebhookResponse {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', title, status, detail, ...(field ? { field } : {}) }),
  };
}

/**
 * The blobs extension's Event Grid webhook (`BlobsExtensionConfigProvider.ConvertAsync` with the Event Grid
 * extension's `HttpRequestProcessor`): the CloudEvents `OPTIONS` handshake, `SubscriptionValidation`, and
 * `Notification` → one message per event on the shared blob trigger queue, then `202` with no body. The function
 * runs from that queue (retries, then `webjobs-blobtrigger-poison`), exactly as a scanned blob does, but without
 * receipts: Event Grid delivers each event once per subscription.
 */
export function createBlobsWebhook(options: BlobsWebhookOptions): ExtensionWebhook {
  return async (request) => {
    if (request.method === 'OPTIONS') {
      return {
        status: 200,
        headers: { 'webhook-allowed-origin': allowedOriginFor(header(request.headers['webhook-request-origin'])) },
      };
    }
    const eventType = header(request.headers['aeg-event-type'])?.trim().toLowerCase();
    if (eventType === 'unsubscribe') return { status: 202 };
    if (eventType !== 'subscriptionvalidation' && eventType !== 'notification') {
      return problem(
        400,
        'Bad Request',
        'The aeg-event-type header must be SubscriptionValidation, Notification or Unsubscribe.',
        'aeg-event-type',
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString('utf8')) as unknown;
    } catch {
      return problem(400, 'Bad Request', 'The body must be an event or an array of events in JSON.', 'body');
    }
    if (eventType === 'subscriptionvalidation') {
      const code = validationCodeFrom(body);
      if (code === undefined) {
        return problem(400, 'Bad Request', 'The validation event has no data.validationCode.', 'data.validationCode');
      }
      options.logger.info('Event Grid subscription validated for the blobs extension.');
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ validationResponse: code }),
      };
    }
    // The extension stores functionName verbatim, even when the URL has none: that message is queued with a null
    // FunctionId and fails on the blob trigger queue ("Invalid function ID.") into the poison queue. Event Grid has
    // had its 202 by then, so the poison queue is where the mistake shows.
    const functionName = request.url.searchParams.get('functionName');
    // devhost maps the short form (Functions.<name>) too, as the listener registers both.
    const functionId = functionName === null ? undefined : options.resolveFunctionId(functionName);
    if (functionName === null) {
      options.logger.warn(
        "Event Grid delivery without a functionName query parameter (Host.Functions.<name>) queued; it will fail with 'Invalid function ID.' and move to 'webjobs-blobtrigger-poison'.",
      );
    } else if (!functionId) {
      options.logger.warn(
        `Event Grid delivery for unknown blob function '${functionName}' queued; no function of this app will run it.`,
      );
    }
    const parsed = blobTriggerMessagesFrom(body, functionId ?? functionName);
    if (!parsed.ok) {
      return problem(400, 'Bad Request', `${parsed.problem.field} ${parsed.problem.detail}.`, parsed.problem.field);
    }
    for (const message of parsed.messages) await options.queue.enqueue(message);
    return { status: 202 };
  };
}
