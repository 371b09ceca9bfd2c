import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { azuriteConnectionString } from '../devhost/azurite';

export type Service = 'blob' | 'queue' | 'table';

/**
 * A pass-through HTTP proxy in front of Azurite's three services that counts requests per service: storage
 * operations per unit of work, measured from outside the app, whatever client made them.
 */
export class CountingProxy {
  readonly counts: Record<Service, number> = { blob: 0, queue: 0, table: 0 };
  readonly #servers: Server[] = [];
  #ports: Record<Service, number> = { blob: 0, queue: 0, table: 0 };

  static async start(target: Record<Service, number>): Promise<CountingProxy> {
    const proxy = new CountingProxy();
    for (const service of ['blob', 'queue', 'table'] as const) {
      const server = createServer((req, res) => {
        proxy.counts[service]++;
        const upstream = httpRequest(
          { host: '127.0.0.1', port: target[service], method: req.method, path: req.url, headers: req.headers },
          (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
          },
        );
        upstream.on('error', () => {
          res.writeHead(502).end();
        });
        req.pipe(upstream);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      proxy.#ports[service] = (server.address() as AddressInfo).port;
      proxy.#servers.push(server);
    }
    return proxy;
  }

  get connectionString(): string {
    return azuriteConnectionString(this.#ports);
  }

  reset(): void {
    this.counts.blob = 0;
    this.counts.queue = 0;
    this.counts.table = 0;
  }

  async stop(): Promise<void> {
    for (const server of this.#servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
