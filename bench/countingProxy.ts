import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { azuriteConnectionString } from '../devhost/azurite';
import { classifyRequest, type Service, type StorageRequest } from './storageRequests';

export type { Service, StorageRequest } from './storageRequests';

/** A request as the proxy saw it: what it touched, and when it finished (ms since epoch). */
export interface CountedRequest extends StorageRequest {
  at: number;
}

/**
 * A pass-through HTTP proxy in front of Azurite's three services that counts requests per service, and records each
 * one with the resource it touched (table partition, queue, container and blob; see storageRequests.ts): storage
 * operations per unit of work, measured from outside the app, whatever client made them.
 */
export class CountingProxy {
  readonly counts: Record<Service, number> = { blob: 0, queue: 0, table: 0 };
  /** Every request since the last `reset()`, in the order they finished. */
  requests: CountedRequest[] = [];
  readonly #servers: Server[] = [];
  #ports: Record<Service, number> = { blob: 0, queue: 0, table: 0 };

  static async start(target: Record<Service, number>): Promise<CountingProxy> {
    const proxy = new CountingProxy();
    for (const service of ['blob', 'queue', 'table'] as const) {
      const server = createServer((req, res) => {
        proxy.counts[service]++;
        const method = req.method ?? 'GET';
        const url = req.url ?? '/';
        // Table and queue bodies are small and name the partition (transactions, inserts) or the messages received:
        // keep them. Blob bodies can be large and say nothing the URL does not: stream them.
        const keepBodies = service !== 'blob';
        const requestChunks: Buffer[] = [];
        const responseChunks: Buffer[] = [];
        const upstream = httpRequest(
          { host: '127.0.0.1', port: target[service], method, path: url, headers: req.headers },
          (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            if (keepBodies && method === 'GET') response.on('data', (chunk: Buffer) => responseChunks.push(chunk));
            response.on('end', () => {
              const requestBody = Buffer.concat(requestChunks).toString('utf8');
              const responseBody = responseChunks.length > 0 ? Buffer.concat(responseChunks).toString('utf8') : '';
              proxy.requests.push({
                ...classifyRequest(service, method, url, requestBody, responseBody),
                at: Date.now(),
              });
            });
            response.pipe(res);
          },
        );
        upstream.on('error', () => {
          res.writeHead(502).end();
        });
        if (keepBodies) req.on('data', (chunk: Buffer) => requestChunks.push(chunk));
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
    this.requests = [];
  }

  /** The requests recorded since the last reset, and a fresh start. */
  take(): CountedRequest[] {
    const taken = this.requests;
    this.reset();
    return taken;
  }

  async stop(): Promise<void> {
    for (const server of this.#servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
