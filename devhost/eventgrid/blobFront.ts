import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import { StartupError } from '../config/errors';
import type { HostLogger } from '../log';
import { blobTypeOf, type CreatedBlob } from './blobCreatedEvent';
import { containerAndBlobOf } from './blobEventNotification';

/** Where the front listens (loopback); setting it turns the front on. */
export const BLOB_FRONT_PORT_SETTING = 'DEVHOST_BLOB_FRONT_PORT';
/** The blob endpoint's origin the front forwards to, e.g. `http://127.0.0.1:10010`. */
export const BLOB_FRONT_UPSTREAM_SETTING = 'DEVHOST_BLOB_FRONT_UPSTREAM';

/** A committed blob as the front saw it: the event's fields, without the account's public URL decided yet. */
export type BlobCommit = CreatedBlob;

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Whether a request committed a blob, the operations after which Azure Storage raises `BlobCreated`: Put Blob,
 * Put Block List, Copy Blob (and Put Blob From URL). Staging a block, appending, setting metadata or properties
 * commit nothing and raise nothing.
 */
export function commitOf(
  method: string,
  url: URL,
  requestHeaders: http.IncomingHttpHeaders,
  status: number,
  responseHeaders: http.IncomingHttpHeaders,
): BlobCommit | undefined {
  if (method !== 'PUT' || (status !== 201 && status !== 202)) return undefined;
  const comp = url.searchParams.get('comp');
  let api: string;
  let blobType: CreatedBlob['blobType'];
  if (comp === 'blocklist') {
    api = 'PutBlockList';
    blobType = 'BlockBlob';
  } else if (comp === null && header(requestHeaders, 'x-ms-copy-source')) {
    api = header(requestHeaders, 'x-ms-blob-type') ? 'PutBlobFromUrl' : 'CopyBlob';
    blobType = blobTypeOf(header(requestHeaders, 'x-ms-blob-type'));
  } else if (comp === null && header(requestHeaders, 'x-ms-blob-type')) {
    api = 'PutBlob';
    blobType = blobTypeOf(header(requestHeaders, 'x-ms-blob-type'));
  } else {
    return undefined;
  }
  const location = containerAndBlobOf(url);
  const etag = header(responseHeaders, 'etag');
  const accountName = url.pathname.split('/').find((segment) => segment !== '');
  if (!location || !etag || !accountName) return undefined;
  const length = Number(header(requestHeaders, 'content-length'));
  return {
    accountName,
    container: location.container,
    blobName: location.blob,
    url: `${url.origin}${url.pathname}`,
    etag,
    blobType,
    contentType: header(requestHeaders, 'x-ms-blob-content-type') ?? header(requestHeaders, 'content-type'),
    contentLength: api === 'PutBlob' && Number.isFinite(length) ? length : undefined,
    api,
  };
}

export interface BlobFront {
  port: number;
  /** The origin it forwards to. */
  upstream: string;
  /** Called for every committed blob, after storage answered and before the client hears back. */
  onCommit(listener: (commit: BlobCommit) => void): void;
  close(): Promise<void>;
}

/**
 * The blob front: a thin proxy on loopback in front of a local blob endpoint (Azurite's), for the app and for
 * people (SAS uploads, Storage Explorer, the CLI) to talk to instead. It forwards every request unchanged (shared
 * key and SAS signatures do not cover the host), streams both ways, and reports each committed blob at once — so
 * devhost raises `BlobCreated` in constant time however many blobs a container holds, where a scan would list them
 * all on every pass.
 */
export async function startBlobFront(options: {
  port: number;
  upstream: string;
  logger: HostLogger;
}): Promise<BlobFront> {
  let upstream: URL;
  try {
    upstream = new URL(options.upstream);
  } catch {
    throw new StartupError(`Setting "${BLOB_FRONT_UPSTREAM_SETTING}" must be a URL, got "${options.upstream}"`);
  }
  const listeners: ((commit: BlobCommit) => void)[] = [];
  const transport = upstream.protocol === 'https:' ? https : http;
  const server = http.createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const seenUrl = new URL(req.url ?? '/', `http://${req.headers.host ?? `127.0.0.1:${String(options.port)}`}`);
    const forward = transport.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        const commit = commitOf(method, seenUrl, req.headers, status, upstreamRes.headers);
        if (commit) {
          for (const listener of listeners) listener(commit);
        }
        res.writeHead(status, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', (error) => {
      if (res.headersSent) return void res.destroy(error);
      const body = JSON.stringify({ type: 'about:blank', title: 'Bad Gateway', status: 502, detail: error.message });
      res.writeHead(502, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new StartupError(`Blob front port ${options.port} is unavailable: ${error.message}`, { cause: error })),
    );
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  options.logger.info(`Blob front listening on http://127.0.0.1:${port} (forwarding to ${upstream.origin}).`);
  return {
    port,
    upstream: upstream.origin,
    onCommit: (listener) => listeners.push(listener),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The same endpoint behind the front, when `endpoint` points at it: devhost's own bookkeeping (claims, receipts,
 * locks) raises no events, so it need not pay for the proxy.
 */
export function behindFront(endpoint: string, front: Pick<BlobFront, 'port' | 'upstream'>): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  if (!LOOPBACK_NAMES.has(url.hostname) || Number(url.port) !== front.port) return undefined;
  return `${front.upstream}${url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')}`;
}

/** The front the settings ask for, if any. */
export async function startBlobFrontFromSettings(
  env: NodeJS.ProcessEnv,
  logger: HostLogger,
): Promise<BlobFront | undefined> {
  const port = env[BLOB_FRONT_PORT_SETTING]?.trim();
  if (!port) return undefined;
  const upstream = env[BLOB_FRONT_UPSTREAM_SETTING]?.trim();
  if (!upstream) {
    throw new StartupError(`Setting "${BLOB_FRONT_PORT_SETTING}" needs "${BLOB_FRONT_UPSTREAM_SETTING}" too`);
  }
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new StartupError(`Setting "${BLOB_FRONT_PORT_SETTING}" must be a port number, got "${port}"`);
  }
  return startBlobFront({ port: Number(port), upstream, logger });
}
