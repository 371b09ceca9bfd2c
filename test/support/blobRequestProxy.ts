import { createServer, type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy passed on: its method and the blob path below the account (`container/name`). */
export interface SeenBlobRequest {
  method: string;
  path: string;
}

/**
 * A pass-through HTTP proxy in front of Azurite's blob service that records every request as it arrives (before it
 * is forwarded, so a download the client later abandons is recorded too), and can hold a request back to change
 * storage first: what a client did, and a race made to happen at a chosen point, seen from outside the client.
 */
export class BlobRequestProxy {
  readonly seen: SeenBlobRequest[] = [];
  /** Called before each request is forwarded; the request waits for it. */
  beforeForward: ((request: SeenBlobRequest) => Promise<void>) | undefined;
  readonly #server: Server;
  readonly #target: URL;
  #port = 0;
  #connectionString = '';

  private constructor(connectionString: string) {
    this.#target = new URL(/BlobEndpoint=([^;]+)/.exec(connectionString)?.[1] ?? 'http://invalid');
    this.#server = createServer((req, res) => {
      const seen = { method: req.method ?? 'GET', path: blobPath(req) };
      this.seen.push(seen);
      const forward = () => {
        const upstream = httpRequest(
          {
            host: this.#target.hostname,
            port: this.#target.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
          },
        );
        upstream.on('error', () => res.writeHead(502).end());
        req.pipe(upstream);
      };
      const hook = this.beforeForward;
      if (!hook) return forward();
      req.pause();
      hook(seen).then(forward, () => res.writeHead(502).end());
    });
  }

  /** Starts a proxy in front of the blob endpoint of `connectionString` (path-style, as Azurite's). */
  static async start(connectionString: string): Promise<BlobRequestProxy> {
    const proxy = new BlobRequestProxy(connectionString);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.#port = (proxy.#server.address() as AddressInfo).port;
    proxy.#connectionString = connectionString;
    return proxy;
  }

  /** `connectionString` with its blob endpoint pointed at the proxy; queues and tables still go straight to Azurite. */
  get connectionString(): string {
    return this.#connectionString.replace(
      /BlobEndpoint=[^;]+/,
      `BlobEndpoint=http://127.0.0.1:${this.#port}${this.#target.pathname.replace(/\/$/, '')}`,
    );
  }

  /** The requests seen for one blob (`container/name`), as `METHOD` strings in arrival order. */
  methodsFor(path: string): string[] {
    return this.seen.filter((request) => request.path === path).map((request) => request.method);
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** `/devstoreaccount1/container/a%20b.png?...` → `container/a b.png` (path-style URLs name the account first). */
function blobPath(req: IncomingMessage): string {
  const segments = new URL(req.url ?? '/', 'http://proxy').pathname.split('/').slice(2);
  return segments.map((segment) => decodeURIComponent(segment)).join('/');
}
