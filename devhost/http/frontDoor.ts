import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How long a request that arrives while the host is starting waits for it (`DelayUntilHostReady`, 30 s). */
const DEFAULT_HOST_READY_TIMEOUT_MS = 30_000;

/** Kestrel's `KeepAliveTimeout` default. */
const KESTREL_KEEP_ALIVE_TIMEOUT_MS = 130_000;

/**
 * devhost only: `DEVHOST_HOST_READY_TIMEOUT_MS` shortens how long early requests wait for the host, so a test can
 * see the 503 without a 30-second start-up.
 */
export function hostReadyTimeoutMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env['DEVHOST_HOST_READY_TIMEOUT_MS']);
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_HOST_READY_TIMEOUT_MS;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The listening socket, opened before the app loads, as Core Tools opens Kestrel before the script host starts: a
 * port in use fails the start at once, and a request that arrives while the app is still loading waits for the host
 * (up to 30 s), then gets the host's `503 Function host is not running.`.
 */
export class FrontDoor {
  readonly server: http.Server;
  #handler: RequestHandler | undefined;
  readonly #waiting = new Set<() => void>();

  private constructor(private readonly readyTimeoutMs: number) {
    this.server = http.createServer((req, res) => this.#route(req, res));
    // Long-polling and slow functions: no request timeout of our own, the function timeout applies.
    this.server.requestTimeout = 0;
    // Kestrel keeps an idle connection 130 s (Node: 5 s). Clients that pool connections to the host, such as Event
    // Grid or a load balancer, would otherwise race Node's early close and see resets on reused sockets.
    this.server.keepAliveTimeout = KESTREL_KEEP_ALIVE_TIMEOUT_MS;
    this.server.headersTimeout = KESTREL_KEEP_ALIVE_TIMEOUT_MS + 1_000;
  }

  /** Listens on `hostname:port` (0 picks a free port). */
  static async open(port: number, hostname: string, readyTimeoutMs: number): Promise<FrontDoor> {
    const door = new FrontDoor(readyTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      door.server.once('error', reject);
      door.server.listen(port, hostname, () => {
        door.server.off('error', reject);
        resolve();
      });
    });
    return door;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The host is running: hand it every request, the ones waiting first. */
  ready(handler: RequestHandler): void {
    this.#handler = handler;
    for (const wake of this.#waiting) wake();
    this.#waiting.clear();
  }

  /** Stops listening (start-up failed, or the host stopped) and waits for connections to end. */
  async close(): Promise<void> {
    for (const wake of this.#waiting) wake();
    // Keep-alive connections turn idle as their last response ends; close them as that happens so the stop does not
    // wait for the client's keep-alive timeout.
    const reaper = setInterval(() => this.server.closeIdleConnections(), 50);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    clearInterval(reaper);
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#handler) {
      this.#handler(req, res);
      return;
    }
    const wake = () => {
      clearTimeout(timer);
      this.#waiting.delete(wake);
      if (this.#handler) this.#handler(req, res);
      else notRunning(res);
    };
    const timer = setTimeout(wake, this.readyTimeoutMs);
    this.#waiting.add(wake);
  }
}

function notRunning(res: http.ServerResponse): void {
  if (res.headersSent) return;
  const body = 'Function host is not running.';
  res.writeHead(503, { 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
