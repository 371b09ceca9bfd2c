import type { BlobTriggerMessage } from '../blob/blobTriggerQueue';

/** A field of a delivery that is missing or wrong, named by its JSON path (`[0].data.url`). */
export interface NotificationProblem {
  field: string;
  detail: string;
}

export type ParsedNotification =
  { ok: true; messages: BlobTriggerMessage[] } | { ok: false; problem: NotificationProblem };

const BLOB_TYPES: readonly BlobTriggerMessage['BlobType'][] = ['BlockBlob', 'PageBlob', 'AppendBlob'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A delivery is one event (CloudEvents structured mode) or an array of them (Event Grid schema, CloudEvents batch). */
function eventsOf(body: unknown): unknown[] {
  return Array.isArray(body) ? body : [body];
}

/**
 * Container and blob name from a blob URL as `BlobUriBuilder` reads it: path-style (`/account/container/blob`) when
 * the host is an IP address or localhost (Azurite), else `/container/blob`.
 */
export function containerAndBlobOf(url: URL): { container: string; blob: string } | undefined {
  const pathStyle = /^(\d+\.\d+\.\d+\.\d+|\[.*\]|localhost)$/i.test(url.hostname);
  const segments = url.pathname.replace(/^\/+/, '').split('/');
  if (pathStyle) segments.shift();
  const [container, ...rest] = segments;
  const blob = rest.join('/');
  if (!container || blob === '') return undefined;
  return { container: decodeURIComponent(container), blob: decodeURIComponent(blob) };
}

/**
 * What the blobs extension reads from a `Notification` (`GetBlobTriggerMessage`): only `data.url`, `data.eTag` and
 * `data.blobType` of each event; the event type and subject are not looked at (filtering belongs to the
 * subscription). Every event is checked before any is queued, so a bad batch queues nothing.
 */
export function blobTriggerMessagesFrom(body: unknown, functionId: string | null): ParsedNotification {
  const events = eventsOf(body);
  const messages: BlobTriggerMessage[] = [];
  const prefix = (index: number) => (Array.isArray(body) ? `[${index}].` : '');
  for (const [index, event] of events.entries()) {
    const at = prefix(index);
    if (!isRecord(event))
      return { ok: false, problem: { field: `${at || 'body'}`, detail: 'must be an event object' } };
    const data = event['data'];
    if (!isRecord(data)) return { ok: false, problem: { field: `${at}data`, detail: 'must be an object' } };
    const url = data['url'];
    let parsedUrl: URL;
    try {
      if (typeof url !== 'string') throw new Error('not a string');
      parsedUrl = new URL(url);
    } catch {
      return { ok: false, problem: { field: `${at}data.url`, detail: 'must be the blob URL' } };
    }
    const location = containerAndBlobOf(parsedUrl);
    if (!location) {
      return { ok: false, problem: { field: `${at}data.url`, detail: 'must name a container and a blob' } };
    }
    const etag = data['eTag'];
    if (typeof etag !== 'string' || etag.trim() === '') {
      return { ok: false, problem: { field: `${at}data.eTag`, detail: 'must be the blob ETag' } };
    }
    const blobType = data['blobType'];
    if (typeof blobType !== 'string' || !BLOB_TYPES.includes(blobType as BlobTriggerMessage['BlobType'])) {
      return { ok: false, problem: { field: `${at}data.blobType`, detail: `must be one of ${BLOB_TYPES.join(', ')}` } };
    }
    messages.push({
      Type: 'BlobTrigger',
      FunctionId: functionId,
      BlobType: blobType as BlobTriggerMessage['BlobType'],
      ContainerName: location.container,
      BlobName: location.blob,
      // The extension quotes the bare ETag Event Grid sends; one already quoted is taken as is.
      ETag: `"${etag.trim().replace(/^"|"$/g, '')}"`,
    });
  }
  return { ok: true, messages };
}

/**
 * The code of a `SubscriptionValidation` event: `[0].data.validationCode` for the Event Grid schema; a CloudEvent's
 * `data` may arrive as a JSON string (the extension parses it a second time).
 */
export function validationCodeFrom(body: unknown): string | undefined {
  const first = eventsOf(body)[0];
  if (!isRecord(first)) return undefined;
  let data = first['data'];
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as unknown;
    } catch {
      return undefined;
    }
  }
  const code = isRecord(data) ? data['validationCode'] : undefined;
  return typeof code === 'string' ? code : undefined;
}

const EVENT_GRID_ORIGINS = [
  'eventgrid.azure.net',
  'eventgrid.azure.us',
  'eventgrid.azure.eaglex.ic.gov',
  'eventgrid.azure.microsoft.scloud',
  'eventgrid.azure.cn',
];

/** The CloudEvents abuse-protection answer: the request's origin when it is an Event Grid cloud, else the public one. */
export function allowedOriginFor(requestOrigin: string | undefined): string {
  const origin = requestOrigin?.trim().toLowerCase();
  return origin && EVENT_GRID_ORIGINS.includes(origin) ? origin : 'eventgrid.azure.net';
}
