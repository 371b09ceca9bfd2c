import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { hostname as machineName } from 'node:os';

import { HOST_VERSION } from '../core/coreApi';
import type { FunctionDefinition } from '../core/functionDefinition';
import type { Invoker } from '../core/invoker';
import type { RpcHttpCookie, RpcHttpData } from '../core/rpcTypes';
import type { HostLogger } from '../log';
import type { FrontDoor } from './frontDoor';
import { type AuthLevel, type HostKeys, isAuthorized, levelOfKey } from './keys';
import { isLoopbackAddress, isWildcardAddress } from './loopback';
import { decodePathSegment, RouteTemplate } from './routeTemplate';

/** The host refuses request bodies above 100 MB (Kestrel `MaxRequestBodySize`), or `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`. */
const DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024;

/** The body limit in bytes: the host's `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` setting, else 100 MB. */
export function maxRequestBodyBytes(env: NodeJS.ProcessEnv): number {
  const value = Number(env['FUNCTIONS_REQUEST_BODY_SIZE_LIMIT']);
  return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_MAX_BODY_BYTES;
}

/** Characters a Host header may hold (RFC 3986 reg-name, IPv6 literal, port); Kestrel answers 400 to anything else. */
const VALID_HOST_HEADER = /^[A-Za-z0-9\-._~!$&'()*+,;=%]*(?::\d*)?$|^\[[0-9A-Fa-f:.]+\](?::\d*)?$/;

class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}
const AUTH_LEVELS: readonly AuthLevel[] = ['anonymous', 'user', 'function', 'system', 'admin'];

interface HttpRoute {
  fn: FunctionDefinition;
  template: RouteTemplate;
  methods: Set<string> | undefined;
  authLevel: AuthLevel;
}

/** Runs a non-HTTP function by hand (`POST /admin/functions/{name}`), with the body's `input`. */
export type ManualTrigger = (fn: FunctionDefinition, input: string) => Promise<void>;

export interface HttpServerOptions {
  /** The socket, already listening since before the app loaded. */
  door: FrontDoor;
  /** The address it listens on: `127.0.0.1` unless the user asked for another (`--host`). */
  hostname: string;
  /** Request body limit in bytes. */
  maxBodyBytes: number;
  /** For `GET /admin/host/status`. */
  hostId: string;
  instanceId: string;
  routePrefix: string;
  functions: FunctionDefinition[];
  /** All functions, HTTP or not, by lower-cased name, for the admin API. */
  allFunctions: Map<string, FunctionDefinition>;
  invoker: Invoker;
  logger: HostLogger;
  /**
   * When set, keys are checked (`--enforce-keys`). Otherwise loopback callers get admin, as Core Tools grants every
   * local request, and callers from elsewhere (only possible with `--host`) get function level: never the admin API.
   */
  keys: HostKeys | undefined;
  manualTrigger: ManualTrigger;
  /** Set when the app enabled HTTP streaming: requests are proxied to the library's own HTTP server. */
  streamingUri: string | undefined;
  isDisabled(fn: FunctionDefinition): boolean;
  /** `runtime/webhooks/{extension}/...`, handled by the extensions' webhooks (eventgrid/runtimeWebhooks.ts). */
  runtimeWebhooks?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL, path: string) => Promise<void>;
  /** `admin/eventgrid/...` once admin access is granted (eventgrid/blobEventAdmin.ts). */
  eventGridAdmin?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<void>;
}

/** Kestrel's check: a declared length over the limit is refused before a byte of the body is read. */
function checkDeclaredLength(req: http.IncomingMessage, maxBytes: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new RequestError(413, 'request body too large');
}

/** Reads the body, counting as it goes for bodies without a declared length (chunked). */
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  checkDeclaredLength(req, maxBytes);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new RequestError(413, 'request body too large'));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The host's own answers carry no body: 404 for a route no function serves (or a method it does not take), 401 for
 * a missing key, 500 when the function failed, 413 and 400 from Kestrel (which also closes the connection).
 */
function sendStatus(res: http.ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { 'content-length': '0' };
  if (status === 400 || status === 413) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end();
}

/** An admin API error with the plain-text message ASP.NET's `BadRequest("…")` writes. */
function sendText(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function cookieHeader(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name ?? ''}=${encodeURIComponent(cookie.value ?? '')}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  if (cookie.expires?.value?.seconds)
    parts.push(`Expires=${new Date(Number(cookie.expires.value.seconds) * 1000).toUTCString()}`);
  if (cookie.maxAge?.value !== undefined && cookie.maxAge?.value !== null) parts.push(`Max-Age=${cookie.maxAge.value}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  const sameSite = { lax: 'Lax', strict: 'Strict', explicitNone: 'None', none: undefined }[cookie.sameSite ?? 'none'];
  if (sameSite) parts.push(`SameSite=${sameSite}`);
  return parts.join('; ');
}

function writeRpcResponse(res: http.ServerResponse, data: RpcHttpData | undefined): void {
  if (!data) {
    res.writeHead(204);
    res.end();
    return;
  }
  const status = Number(data.statusCode ?? 200) || 200;
  const headers: Record<string, string | string[]> = { ...(data.headers ?? {}) };
  const cookies = (data.cookies ?? []).map(cookieHeader);
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = data.body?.bytes
    ? Buffer.from(data.body.bytes)
    : data.body?.string
      ? Buffer.from(data.body.string)
      : Buffer.alloc(0);
  if (![204, 205, 304].includes(status)) headers['content-length'] = String(body.length);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * The HTTP front door: function routes under the route prefix, with Core Tools' admin API beside them. Keys are
 * checked only with `--enforce-keys` (Core Tools grants admin to every local request otherwise).
 */
export class HttpServer {
  readonly #routes: HttpRoute[];
  readonly #options: HttpServerOptions;

  constructor(options: HttpServerOptions) {
    this.#options = options;
    this.#routes = options.functions
      .map((fn) => {
        const config = fn.trigger.config;
        const route = typeof config['route'] === 'string' ? config['route'] : fn.name;
        const methods = Array.isArray(config['methods'])
          ? new Set((config['methods'] as string[]).map((m) => m.toUpperCase()))
          : undefined;
        const configured = config['authLevel'];
        const level = (typeof configured === 'string' ? configured : 'function').toLowerCase() as AuthLevel;
        return {
          fn,
          template: new RouteTemplate(route, `Function "${fn.name}"`),
          methods: methods && methods.size > 0 ? methods : undefined,
          authLevel: AUTH_LEVELS.includes(level) ? level : 'function',
        };
      })
      .sort((a, b) => b.template.precedence - a.template.precedence);
  }

  get port(): number {
    return this.#options.door.port;
  }

  /** `http://localhost:<port>` (or the address asked for with `--host`): where the listing points callers. */
  get baseUrl(): string {
    const host = this.#options.hostname;
    const shown =
      isLoopbackAddress(host) || isWildcardAddress(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    return `http://${shown}:${this.port}`;
  }

  /** `http://localhost:<port>/<prefix>/<route>` for the start-up listing. */
  urlOf(fn: FunctionDefinition): string {
    const route = this.#routes.find((r) => r.fn === fn);
    const prefix = this.#options.routePrefix ? `/${this.#options.routePrefix}` : '';
    return `${this.baseUrl}${prefix}/${route?.template.template.replace(/^\/+/, '') ?? fn.name}`;
  }

  methodsOf(fn: FunctionDefinition): string[] {
    const route = this.#routes.find((r) => r.fn === fn);
    return route?.methods ? [...route.methods] : ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
  }

  /** The host is running: serve requests, including those that waited while the app loaded. */
  open(): void {
    this.#options.door.ready((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        const status = error instanceof RequestError ? error.statusCode : 500;
        if (status >= 500) this.#options.logger.error(`HTTP request failed: ${(error as Error).message}`);
        sendStatus(res, status);
      });
    });
  }

  /** Stops accepting connections and waits for requests in progress. */
  async close(): Promise<void> {
    await this.#options.door.close();
  }

  #presentedLevel(req: http.IncomingMessage, url: URL): AuthLevel | undefined {
    const keys = this.#options.keys;
    if (!keys) return isLoopbackAddress(req.socket.remoteAddress) ? 'admin' : 'function';
    const header = req.headers['x-functions-key'];
    const presented = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? undefined;
    return levelOfKey(presented, keys);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const hostHeader = req.headers.host ?? 'localhost';
    if (!VALID_HOST_HEADER.test(hostHeader)) return sendStatus(res, 400);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${hostHeader}`);
    } catch {
      return sendStatus(res, 400);
    }
    const path = url.pathname.replace(/^\/+|\/+$/g, '');
    if (path === 'admin' || path.startsWith('admin/')) return this.#handleAdmin(req, res, url, path);
    if (this.#options.runtimeWebhooks && path.toLowerCase().startsWith('runtime/webhooks/')) {
      return this.#options.runtimeWebhooks(req, res, url, path);
    }

    const prefix = this.#options.routePrefix;
    let routePath: string;
    if (prefix === '') routePath = path;
    else if (path.toLowerCase() === prefix.toLowerCase()) routePath = '';
    else if (path.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) routePath = path.slice(prefix.length + 1);
    else return sendStatus(res, 404);

    const method = (req.method ?? 'GET').toUpperCase();
    let matched: { route: HttpRoute; params: Record<string, string> } | undefined;
    for (const route of this.#routes) {
      if (route.methods && !route.methods.has(method)) continue;
      const params = route.template.match(routePath);
      if (params) {
        matched = { route, params };
        break;
      }
    }
    if (!matched) return sendStatus(res, 404);
    const { route, params } = matched;
    const level = this.#presentedLevel(req, url);
    // A disabled function is not there, except for admin callers (who may still run it, as the host allows).
    if (this.#options.isDisabled(route.fn) && level !== 'admin') return sendStatus(res, 404);
    if (!isAuthorized(route.authLevel, level)) return sendStatus(res, 401);
    if (this.#options.streamingUri) return this.#proxyStreaming(req, res, route.fn, params, url);

    const body = await readBody(req, this.#options.maxBodyBytes);
    const nullable = (record: Record<string, string>) =>
      Object.fromEntries(Object.entries(record).map(([k, v]) => [k, { value: v }]));
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const query: Record<string, string> = {};
    for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
    const httpData: RpcHttpData = {
      method,
      url: url.toString(),
      nullableHeaders: nullable(headers),
      nullableQuery: nullable(query),
      nullableParams: nullable(params),
      ...(body.length > 0 ? { body: { bytes: body } } : {}),
    };
    const outcome = await this.#options.invoker.invoke(route.fn, {
      reason: `This function was programmatically called via the host APIs.`,
      triggerData: { http: httpData },
      triggerMetadata: { ...params, Query: query, Headers: headers },
    });
    if (outcome.status === 'failed') return sendStatus(res, 500);
    writeRpcResponse(res, outcome.http);
  }

  /**
   * HTTP streaming (`app.setup({ enableHttpStream: true })`): like the host, forward the raw request to the
   * library's HTTP server with the invocation id, run the invocation, and relay the library's response.
   */
  async #proxyStreaming(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    fn: FunctionDefinition,
    params: Record<string, string>,
    url: URL,
  ): Promise<void> {
    const invocationId = randomUUID();
    const target = new URL(`${url.pathname}${url.search}`, this.#options.streamingUri);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    checkDeclaredLength(req, this.#options.maxBodyBytes);
    let upstream: http.ClientRequest | undefined;
    let refused = false;
    const proxied = new Promise<void>((resolve, reject) => {
      upstream = http.request(
        target,
        {
          method: req.method,
          headers: {
            ...req.headers,
            'x-ms-invocation-id': invocationId,
            'x-forwarded-host': req.headers.host ?? '',
            'x-forwarded-proto': 'http',
          },
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 200, upstreamRes.headers);
          upstreamRes.pipe(res);
          upstreamRes.on('end', resolve);
          upstreamRes.on('error', reject);
        },
      );
      upstream.on('error', reject);
      // Forward the body, counting it: a chunked body over the limit is refused as it arrives, like Kestrel does.
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.#options.maxBodyBytes && !refused) {
          refused = true;
          req.unpipe(upstream);
          upstream?.destroy();
          sendStatus(res, 413);
        }
      });
      req.pipe(upstream);
    });
    proxied.catch(() => undefined); // awaited below unless the answer was already given
    const outcome = await this.#options.invoker.invoke(fn, {
      invocationId,
      reason: 'This function was programmatically called via the host APIs.',
      triggerData: { http: { method: req.method ?? 'GET', url: url.toString() } },
      triggerMetadata: { ...params, Headers: headers },
    });
    if (refused) return; // answered 413 while the body arrived
    if (outcome.status === 'failed' && !res.headersSent) {
      // The library never answers the proxied request of a failed invocation: drop it, answer as the host does.
      upstream?.destroy();
      sendStatus(res, 500);
      return;
    }
    await proxied;
  }

  async #handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, path: string): Promise<void> {
    if (!isAuthorized('admin', this.#presentedLevel(req, url))) {
      return sendStatus(res, 401);
    }
    const method = (req.method ?? 'GET').toUpperCase();
    if (path === 'admin/host/status' && method === 'GET') {
      // The host's HostStatus fields; the version is the host version devhost reports to the library.
      const body = JSON.stringify({
        id: this.#options.hostId,
        state: 'Running',
        version: HOST_VERSION,
        versionDetails: `${HOST_VERSION} (devhost)`,
        platformVersion: '',
        instanceId: this.#options.instanceId,
        computerName: machineName(),
        processUptime: Math.round(process.uptime() * 1000),
        functionAppContentEditingState: 'Unknown',
      });
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (this.#options.eventGridAdmin && path.startsWith('admin/eventgrid/')) {
      return this.#options.eventGridAdmin(req, res, path);
    }
    const match = /^admin\/functions\/([^/]+)$/.exec(path);
    if (!match || method !== 'POST') return sendStatus(res, 404);
    const fn = this.#options.allFunctions.get(decodePathSegment(match[1] ?? '').toLowerCase());
    if (!fn) return sendStatus(res, 404);
    if (fn.trigger.type === 'httpTrigger') {
      return sendText(res, 400, 'This API is not supported for HTTP triggered functions.');
    }
    const body = await readBody(req, this.#options.maxBodyBytes);
    let input = '';
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return sendText(res, 400, 'The body must be JSON: {"input": "..."}.');
      }
      const value = (parsed as { input?: unknown } | null)?.input;
      if (value !== undefined && typeof value !== 'string') return sendText(res, 400, '"input" must be a string.');
      input = value ?? '';
    }
    res.writeHead(202);
    res.end();
    // Like the host, the call is accepted first and runs in the background.
    this.#options.manualTrigger(fn, input).catch((error: unknown) => {
      this.#options.logger.error(`Manual run of '${fn.name}' failed: ${(error as Error).message}`);
    });
  }
}
