import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

import type { AccessToken, TokenCredential } from '@azure/identity';

/**
 * The storage REST version devhost's own requests speak. Azure has served it since January 2025; Azurite takes any
 * version when started with `--skipApiVersionCheck`, as devhost starts it.
 */
const SERVICE_VERSION = '2025-01-05';
/** Names devhost in storage logs, as the SDK's `azsdk-js-…` agent names the SDK. */
const USER_AGENT = `devhost-storage-rest Node/${process.versions.node}`;
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
/** A token is renewed this long before it expires, as the SDK's bearer policy does. */
const TOKEN_REFRESH_MARGIN_MS = 2 * 60_000;
/** Retries after a network error, a timeout or a 5xx/408/429: short, since every caller has its own backoff. */
const RETRY_DELAYS_MS = [200, 800, 2_000];

/** How requests prove who they are: the account key, a SAS, or a token from the connection's credential. */
export type RestAuth =
  | { kind: 'sharedKey'; accountName: string; key: Buffer }
  | { kind: 'sas'; query: string }
  | { kind: 'bearer'; credential: TokenCredential };

/** A failed storage request: `statusCode` and `code` as the SDK's `RestError` carries them, so callers check both alike. */
export class StorageRestError extends Error {
  override readonly name = 'StorageRestError';
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface RestRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** Below the service endpoint, already percent-encoded: `/queue/messages`. */
  path: string;
  query?: Record<string, string>;
  body?: string;
  contentType?: string;
  /** `If-Match`: the request applies only to this version (an ETag, quoted as storage returns it). */
  ifMatch?: string;
  abortSignal?: AbortSignal;
}

export interface RestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A response whose body is bytes (a blob's content), not text. */
export interface RestBytesResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: Buffer;
}

function isRetriable(error: unknown): boolean {
  if (!(error instanceof StorageRestError)) return false;
  const status = error.statusCode;
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StorageRestError('The request was aborted.', undefined, 'ABORTED'));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StorageRestError('The request was aborted.', undefined, 'ABORTED'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A response body as it arrives: into one buffer of the announced length when there is one (a blob's content, read
 * once more than it needs to be if collected in chunks and joined), in chunks otherwise.
 */
class ResponseBody {
  #chunks: Buffer[] = [];
  #buffer: Buffer | undefined;
  #length = 0;

  constructor(contentLength: string | undefined) {
    const announced = Number(contentLength);
    if (Number.isSafeInteger(announced) && announced > 0) this.#buffer = Buffer.allocUnsafe(announced);
  }

  add(chunk: Buffer): void {
    if (this.#buffer && this.#length + chunk.length <= this.#buffer.length) {
      chunk.copy(this.#buffer, this.#length);
    } else {
      // More than announced: what came so far becomes the first chunk.
      if (this.#buffer) this.#chunks.push(this.#buffer.subarray(0, this.#length));
      this.#buffer = undefined;
      this.#chunks.push(chunk);
    }
    this.#length += chunk.length;
  }

  /** What arrived, and only that (a body cut short is not padded out). */
  bytes(): Buffer {
    return this.#buffer ? this.#buffer.subarray(0, this.#length) : Buffer.concat(this.#chunks);
  }
}

/**
 * A small client for the storage REST API, for the requests devhost makes on every invocation of a queue or blob
 * trigger (receive, delete, send, a blob's properties). Through the SDK each costs about 0.5–0.8 ms of CPU in
 * request pipelines and XML mappers, three to four times the request itself; on a machine where the host, the app
 * and Azurite share two cores, that is throughput the app does not get. It signs as the SDK does (Shared Key, SAS or
 * a bearer token from the connection's credential), keeps connections alive, and retries transient failures a few
 * times. The app's own requests, and devhost's rarer ones, stay on the SDK.
 */
export class StorageRestClient {
  readonly #endpoint: URL;
  readonly #agent: http.Agent;
  readonly #transport: typeof http | typeof https;
  #token: Promise<AccessToken> | undefined;
  #tokenExpiresAt = 0;

  constructor(
    /** The service endpoint, e.g. `http://127.0.0.1:10001/devstoreaccount1` or `https://acct.queue.core.windows.net`. */
    endpoint: string,
    private readonly auth: RestAuth,
  ) {
    this.#endpoint = new URL(endpoint.endsWith('/') ? endpoint.slice(0, -1) : endpoint);
    this.#transport = this.#endpoint.protocol === 'https:' ? https : http;
    this.#agent = new this.#transport.Agent({ keepAlive: true });
  }

  /** Sends the request; a status of 400 or more throws {@link StorageRestError}. */
  async send(request: RestRequest): Promise<RestResponse> {
    const { status, headers, bytes } = await this.sendForBytes(request);
    return { status, headers, body: bytes.toString('utf8') };
  }

  /** As {@link send}, with the body as it came: a blob's content. */
  async sendForBytes(request: RestRequest): Promise<RestBytesResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#sendOnce(request);
      } catch (error) {
        const wait = RETRY_DELAYS_MS[attempt];
        if (wait === undefined || !isRetriable(error) || request.abortSignal?.aborted) throw error;
        await delay(wait, request.abortSignal);
      }
    }
  }

  async #sendOnce(request: RestRequest): Promise<RestBytesResponse> {
    const basePath = this.#endpoint.pathname === '/' ? '' : this.#endpoint.pathname;
    const query = { ...request.query };
    const encodedQuery = Object.entries(query)
      .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
      .join('&');
    const auth = this.auth;
    const fullQuery = [encodedQuery, auth.kind === 'sas' ? auth.query : ''].filter(Boolean).join('&');
    const path = `${basePath}${request.path}${fullQuery ? `?${fullQuery}` : ''}`;
    const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      'x-ms-date': new Date().toUTCString(),
      'x-ms-version': SERVICE_VERSION,
    };
    if (request.method === 'PUT' || request.method === 'POST') headers['content-length'] = String(body?.length ?? 0);
    if (request.contentType) headers['content-type'] = request.contentType;
    if (request.ifMatch) headers['if-match'] = request.ifMatch;
    if (auth.kind === 'sharedKey') {
      headers['authorization'] = this.#sharedKey(auth, request.method, `${basePath}${request.path}`, query, headers);
    } else if (auth.kind === 'bearer') {
      headers['authorization'] = `Bearer ${await this.#bearerToken(auth.credential)}`;
    }
    return new Promise<RestBytesResponse>((resolve, reject) => {
      const outgoing = this.#transport.request(
        {
          protocol: this.#endpoint.protocol,
          hostname: this.#endpoint.hostname,
          port: this.#endpoint.port,
          path,
          method: request.method,
          headers,
          agent: this.#agent,
          ...(request.abortSignal ? { signal: request.abortSignal } : {}),
        },
        (response) => {
          const body = new ResponseBody(request.method === 'HEAD' ? undefined : response.headers['content-length']);
          response.on('data', (chunk: Buffer) => body.add(chunk));
          response.on('error', (error) => reject(new StorageRestError(error.message, undefined, 'ECONNRESET')));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            const bytes = body.bytes();
            if (status >= 400) {
              const text = bytes.toString('utf8');
              const code = response.headers['x-ms-error-code'];
              const detail = /<Message>([^<]*)</.exec(text)?.[1]?.split('\n')[0];
              reject(
                new StorageRestError(
                  `${request.method} ${request.path}: ${status}${code ? ` ${String(code)}` : ''}${detail ? `: ${detail}` : ''}`,
                  status,
                  typeof code === 'string' ? code : undefined,
                ),
              );
              return;
            }
            resolve({ status, headers: response.headers, bytes });
          });
        },
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        reject(new StorageRestError(error.message, undefined, error.code ?? error.name));
      });
      outgoing.end(body);
    });
  }

  /** The Shared Key signature (Blob, Queue and File services; version 2009-09-19 and later). */
  #sharedKey(
    auth: Extract<RestAuth, { kind: 'sharedKey' }>,
    method: string,
    encodedPath: string,
    query: Record<string, string>,
    headers: Record<string, string>,
  ): string {
    const canonicalHeaders = Object.keys(headers)
      .filter((name) => name.startsWith('x-ms-'))
      .sort()
      .map((name) => `${name}:${(headers[name] ?? '').trim()}\n`)
      .join('');
    const canonicalQuery = Object.entries(query)
      .map(([name, value]) => `\n${name.toLowerCase()}:${value}`)
      .sort()
      .join('');
    const contentLength = headers['content-length'];
    const stringToSign = [
      method,
      '', // Content-Encoding
      '', // Content-Language
      contentLength === '0' ? '' : (contentLength ?? ''),
      '', // Content-MD5
      headers['content-type'] ?? '',
      '', // Date (x-ms-date is signed instead)
      '', // If-Modified-Since
      headers['if-match'] ?? '',
      '', // If-None-Match
      '', // If-Unmodified-Since
      '', // Range
      `${canonicalHeaders}/${auth.accountName}${encodedPath}${canonicalQuery}`,
    ].join('\n');
    const signature = createHmac('sha256', auth.key).update(stringToSign, 'utf8').digest('base64');
    return `SharedKey ${auth.accountName}:${signature}`;
  }

  async #bearerToken(credential: TokenCredential): Promise<string> {
    if (!this.#token || Date.now() > this.#tokenExpiresAt - TOKEN_REFRESH_MARGIN_MS) {
      // One fetch at a time: requests made while it runs wait for it.
      this.#tokenExpiresAt = Number.POSITIVE_INFINITY;
      const pending = credential.getToken(STORAGE_SCOPE).then((token) => {
        if (!token) throw new StorageRestError('The credential returned no token for storage.', 401, 'NoToken');
        this.#tokenExpiresAt = token.expiresOnTimestamp;
        return token;
      });
      this.#token = pending;
      // A failed fetch is not kept: the next request asks again.
      pending.catch(() => {
        if (this.#token === pending) this.#token = undefined;
      });
    }
    return (await this.#token).token;
  }
}
