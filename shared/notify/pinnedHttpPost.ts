import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

import { NotifyError } from './notifyErrors';
import type { VettedWebhookTarget } from './webhookTarget';

/** One POST to a vetted target, connecting only to its vetted address. */
export interface PinnedPostRequest {
  target: VettedWebhookTarget;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  /** Time allowed for the whole exchange (connect, response headers, draining the body), in milliseconds. */
  timeoutMs: number;
}

/** The status line and headers of the response; its body is read and discarded. */
export interface PinnedPostResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
}

/** A receiver's answer is status and headers; its body is drained up to this many bytes, then the socket is closed. */
const MAX_DRAINED_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs `body` over http(s) to the target's vetted address. The host name is still used for the `Host` header and
 * for TLS (SNI and certificate checks), but the connection never resolves it again: a DNS answer that changes
 * between the policy check and the connect (DNS rebinding) cannot redirect the request. Redirects are not followed
 * here. Throws a transient `WEBHOOK_TIMEOUT` or `WEBHOOK_NETWORK_ERROR` {@link NotifyError}.
 */
export async function postToPinnedAddress(request: PinnedPostRequest): Promise<PinnedPostResponse> {
  const { target } = request;
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise<PinnedPostResponse>((resolve, reject) => {
    const outgoing = client.request({
      method: 'POST',
      protocol: target.url.protocol,
      hostname: target.hostname,
      port: target.url.port === '' ? undefined : Number(target.url.port),
      path: `${target.url.pathname}${target.url.search}`,
      headers: { ...request.headers, 'Content-Length': String(request.body.length) },
      lookup: pinnedLookup(target.address, target.family),
      family: target.family,
      // A fresh connection per delivery: a pooled socket could belong to another (earlier vetted) address.
      agent: false,
    });
    // One deadline for the whole exchange: connecting, the response headers and draining the body. Past it the
    // socket is destroyed; if the status had already arrived, the delivery keeps that result.
    const timer = setTimeout(() => {
      outgoing.destroy(
        new NotifyError(
          'WEBHOOK_TIMEOUT',
          `Webhook to ${target.hostname} got no answer within ${request.timeoutMs} ms`,
        ),
      );
    }, request.timeoutMs);
    outgoing.on('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof NotifyError ? error : networkError(target.hostname, error));
    });
    outgoing.once('response', (response) => {
      let drained = 0;
      response.on('data', (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > MAX_DRAINED_RESPONSE_BYTES) response.destroy();
      });
      // The answer is already known; errors while draining the rest of the body change nothing.
      response.on('error', () => undefined);
      response.once('close', () => clearTimeout(timer));
      resolve({ statusCode: response.statusCode ?? 0, headers: response.headers });
    });
    outgoing.end(request.body);
  });
}

/** A `lookup` that answers every query with the vetted address, whatever node asks for. */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function networkError(hostname: string, error: Error): NotifyError {
  const code = (error as NodeJS.ErrnoException).code;
  return new NotifyError('WEBHOOK_NETWORK_ERROR', `Webhook to ${hostname} failed: ${code ?? error.message}`, {
    cause: error,
  });
}
