import { randomBytes } from 'node:crypto';
import type http from 'node:http';

import { type HostKeys, keysEqual } from '../http/keys';

/** Event Grid delivers at most 1 MB per request (one event or a batch). */
const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export interface WebhookRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface WebhookResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** An extension's webhook (`IAsyncConverter<HttpRequestMessage, HttpResponseMessage>`). */
export type ExtensionWebhook = (request: WebhookRequest) => Promise<WebhookResponse>;

function problem(status: number, title: string, detail: string): WebhookResponse {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', title, status, detail }),
  };
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_BODY_BYTES) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `DEVHOST_BLOBS_EXTENSION_KEY` for the `blobs_extension` system key. */
export function systemKeySetting(extensionName: string): string {
  return `DEVHOST_${extensionName.toUpperCase()}_EXTENSION_KEY`;
}

/**
 * The host's `runtime/webhooks/{extensionName}/{*extra}` route (`HostController.ExtensionWebHookHandler`): the
 * request must carry the master key or the extension's system key `{extensionName}_extension` when keys are
 * enforced (Core Tools grants admin to every local request otherwise); an extension with no handler is a 404.
 */
export class RuntimeWebhooks {
  readonly #handlers = new Map<string, ExtensionWebhook>();
  readonly #systemKeys = new Map<string, { value: string; fromSettings: boolean }>();
  #baseUrl: string | undefined;

  constructor(
    private readonly keys: HostKeys | undefined,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Registers an extension's handler and creates its system key (from settings, or generated for this run). */
  register(extensionName: string, handler: ExtensionWebhook): void {
    const name = extensionName.toLowerCase();
    this.#handlers.set(name, handler);
    if (this.keys && !this.#systemKeys.has(name)) {
      const configured = this.env[systemKeySetting(name)];
      this.#systemKeys.set(name, {
        value: configured || randomBytes(30).toString('base64url'),
        fromSettings: Boolean(configured),
      });
    }
  }

  get extensions(): string[] {
    return [...this.#handlers.keys()];
  }

  /** The system key `{name}_extension`, when keys are enforced. */
  systemKey(extensionName: string): { value: string; fromSettings: boolean } | undefined {
    return this.#systemKeys.get(extensionName.toLowerCase());
  }

  /** Called once the HTTP server listens, with its base URL (`http://localhost:{port}` unless `--host`). */
  listeningOn(baseUrl: string): void {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /**
   * `http://localhost:{port}/runtime/webhooks/{name}` (without a key), as the host's `DefaultScriptWebHookProvider`
   * gives it locally; devhost's own event source posts there too.
   */
  urlOf(extensionName: string): string {
    if (this.#baseUrl === undefined) throw new Error('the HTTP server is not listening yet');
    return `${this.#baseUrl}/runtime/webhooks/${extensionName.toLowerCase()}`;
  }

  /**
   * Devhost's own event source delivers here in process: the very handler an HTTP delivery reaches, with the same
   * request and answer, without a loopback round trip through the HTTP server (the source is devhost itself, so
   * the key check has nothing to decide). A handler that throws rejects, as a 500 would fail the delivery.
   */
  async deliver(extensionName: string, request: WebhookRequest): Promise<WebhookResponse> {
    const handler = this.#handlers.get(extensionName.toLowerCase());
    if (!handler) return { status: 404 };
    return handler(request);
  }

  #authorized(extensionName: string, req: http.IncomingMessage, url: URL): boolean {
    if (!this.keys) return true;
    const header = req.headers['x-functions-key'];
    const presented = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? undefined;
    if (!presented) return false;
    // Compare with both keys (no early return), so timing does not tell which one was close.
    const master = keysEqual(presented, this.keys.master);
    const system = this.#systemKeys.get(extensionName);
    const systemMatches = system ? keysEqual(presented, system.value) : false;
    return master || systemMatches;
  }

  /** Handles `runtime/webhooks/...` (path without leading slash). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, path: string): Promise<void> {
    const extensionName = (path.split('/')[2] ?? '').toLowerCase();
    let response: WebhookResponse;
    // Like the host's own 401 and 404 (devhost's http/ answers them the same way): status only, empty body.
    if (!this.#authorized(extensionName, req, url)) response = { status: 401 };
    else {
      const handler = this.#handlers.get(extensionName);
      const body = handler ? await readBody(req) : Buffer.alloc(0);
      if (!handler) response = { status: 404 };
      else if (body === undefined) {
        response = problem(413, 'Payload Too Large', `Deliveries are at most ${MAX_WEBHOOK_BODY_BYTES} bytes.`);
      } else {
        response = await handler({ method: (req.method ?? 'GET').toUpperCase(), url, headers: req.headers, body });
      }
    }
    const body = response.body ?? '';
    res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  }
}
