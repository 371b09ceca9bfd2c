import type http from 'node:http';

import type { LocalEventGrid } from './localEventGrid';

const MAX_BODY_BYTES = 64 * 1024;

function send(res: http.ServerResponse, status: number, body: Record<string, unknown>, problem = false): void {
  const text = JSON.stringify(problem ? { type: 'about:blank', status, ...body } : body);
  res.writeHead(status, {
    'content-type': problem ? 'application/problem+json' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/**
 * `POST /admin/eventgrid/blobcreated` with `{"container": "...", "name": "..."}` (admin level, like the rest of
 * `/admin`): devhost sends the existing blob's `BlobCreated` event to the Event Grid–source functions that watch it,
 * through the blobs extension webhook, as Microsoft's samples do by hand with a `.http` file (which needs the blob's
 * URL and ETag typed in; this looks them up).
 */
export async function handleBlobEventAdmin(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  eventGrid: LocalEventGrid,
): Promise<void> {
  if (path !== 'admin/eventgrid/blobcreated' || (req.method ?? '').toUpperCase() !== 'POST') {
    return send(res, 404, { title: 'Not Found', detail: 'POST /admin/eventgrid/blobcreated' }, true);
  }
  let body: unknown;
  try {
    body = await readJson(req);
  } catch {
    return send(
      res,
      400,
      { title: 'Bad Request', detail: 'The body must be JSON: {"container": "...", "name": "..."}.', field: 'body' },
      true,
    );
  }
  const record = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  for (const field of ['container', 'name']) {
    if (typeof record[field] !== 'string' || record[field].trim() === '') {
      return send(res, 400, { title: 'Bad Request', detail: `"${field}" is required (a string).`, field }, true);
    }
  }
  const container = record['container'] as string;
  const name = record['name'] as string;
  let sent: { functions: string[]; etag: string };
  try {
    sent = await eventGrid.sendByHand(container, name);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      return send(res, 404, { title: 'Not Found', detail: `Blob '${container}/${name}' does not exist.` }, true);
    }
    throw error;
  }
  if (sent.functions.length === 0) {
    return send(
      res,
      404,
      { title: 'Not Found', detail: `No Event Grid-source blob function watches '${container}/${name}'.` },
      true,
    );
  }
  return send(res, 202, { functions: sent.functions, eTag: sent.etag });
}
