import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { FunctionDefinition } from '../core/functionDefinition';
import type { Invoker } from '../core/invoker';
import type { RpcHttpCookie, RpcHttpData } from '../core/rpcTypes';
import type { HostLogger } from '../log';
import { type AuthLevel, type HostKeys, isAuthorized, levelOfKey } from './keys';
import { isLoopbackAddress, isWildcardAddress } from './loopback';
import { RouteTemplate } from './routeTemplate';

/** The host refuses request bodies above 100 MB (Kestrel `MaxRequestBodySize` in the Functions host). */
const MAX_BODY_BYTES = 100 * 1024 * 1024;
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
  port: number;
  /** Address to listen on: `127.0.0.1` unless the user asked for another (`--host`). */
  hostname: string;
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
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('request body too large'), { statusCode: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendProblem(res: http.ServerResponse, status: number, title: string, detail?: string): void {
  if (res.headersSent) return;
  const body = JSON.stringify({ type: 'about:blank', title, status, ...(detail ? { detail } : {}) });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
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
  readonly #server: http.Server;
  readonly #options: HttpServerOptions;
  #port = 0;

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
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        const status = (error as { statusCode?: number }).statusCode ?? 500;
        if (status >= 500) options.logger.error(`HTTP request failed: ${(error as Error).message}`);
        sendProblem(res, status, status === 413 ? 'Payload Too Large' : 'Internal Server Error');
      });
    });
    // Long-polling and slow functions: no request timeout of our own, the function timeout applies.
    this.#server.requestTimeout = 0;
  }

  get port(): number {
    return this.#port;
  }

  /** `http://localhost:<port>` (or the address asked for with `--host`): where the listing points callers. */
  get baseUrl(): string {
    const host = this.#options.hostname;
    const shown =
      isLoopbackAddress(host) || isWildcardAddress(host) ? 'localhost' : host.includes(':') ? `[${host}]` : host;
    return `http://${shown}:${this.#port}`;
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

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.hostname, () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this.#port;
  }

  /** Stops accepting connections and waits for requests in progress. */
  async close(): Promise<void> {
    // Keep-alive connections turn idle as their last response ends; close them as that happens so the stop
    // does not wait for the client's keep-alive timeout.
    const reaper = setInterval(() => this.#server.closeIdleConnections(), 50);
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    clearInterval(reaper);
  }

  #presentedLevel(req: http.IncomingMessage, url: URL): AuthLevel | undefined {
    const keys = this.#options.keys;
    if (!keys) return isLoopbackAddress(req.socket.remoteAddress) ? 'admin' : 'function';
    const header = req.headers['x-functions-key'];
    const presented = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? undefined;
    return levelOfKey(presented, keys);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
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
    else return sendProblem(res, 404, 'Not Found');

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
    if (!matched || this.#options.isDisabled(matched.route.fn)) return sendProblem(res, 404, 'Not Found');
    const { route, params } = matched;
    if (!isAuthorized(route.authLevel, this.#presentedLevel(req, url))) {
      return sendProblem(
        res,
        401,
        'Unauthorized',
        'A valid function key is required (x-functions-key header or code query parameter).',
      );
    }
    if (this.#options.streamingUri) return this.#proxyStreaming(req, res, route.fn, params, url);

    const body = await readBody(req);
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
    if (outcome.status === 'failed') return sendProblem(res, 500, 'Internal Server Error');
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
    const proxied = new Promise<void>((resolve, reject) => {
      const upstream = http.request(
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
      req.pipe(upstream);
    });
    const outcome = await this.#options.invoker.invoke(fn, {
      invocationId,
      reason: 'This function was programmatically called via the host APIs.',
      triggerData: { http: { method: req.method ?? 'GET', url: url.toString() } },
      triggerMetadata: { ...params, Headers: headers },
    });
    if (outcome.status === 'failed' && !res.headersSent) {
      sendProblem(res, 500, 'Internal Server Error');
      return;
    }
    await proxied;
  }

  async #handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, path: string): Promise<void> {
    if (!isAuthorized('admin', this.#presentedLevel(req, url))) {
      return sendProblem(res, 401, 'Unauthorized', 'The admin API needs the master key.');
    }
    const method = (req.method ?? 'GET').toUpperCase();
    if (path === 'admin/host/status' && method === 'GET') {
      const body = JSON.stringify({
        state: 'Running',
        version: 'devhost',
        processUptime: Math.round(process.uptime() * 1000),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    const match = /^admin\/functions\/([^/]+)$/.exec(path);
    if (!match || method !== 'POST') return sendProblem(res, 404, 'Not Found');
    const fn = this.#options.allFunctions.get(decodeURIComponent(match[1] ?? '').toLowerCase());
    if (!fn) return sendProblem(res, 404, 'Not Found', `No function named "${match[1] ?? ''}".`);
    if (fn.trigger.type === 'httpTrigger') {
      return sendProblem(res, 400, 'Bad Request', 'HTTP functions are called on their own route.');
    }
    const body = await readBody(req);
    let input = '';
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return sendProblem(res, 400, 'Bad Request', 'The body must be JSON: {"input": "..."}.');
      }
      const value = (parsed as { input?: unknown } | null)?.input;
      if (value !== undefined && typeof value !== 'string')
        return sendProblem(res, 400, 'Bad Request', '"input" must be a string.');
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
