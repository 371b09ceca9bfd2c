import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { verifyWebhookSignature } from '../../shared/notify/webhookSignature';

export interface ReceivedWebhook {
  id: string;
  event: string;
  jobId: string;
  data: Record<string, unknown>;
  verified: boolean;
  reason?: string;
}

/**
 * The sample receiver: verifies each webhook's HMAC signature and timestamp (an old timestamp is a replay and is
 * refused with 401), dedupes on the webhook id, and answers 204.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  readonly refused: string[] = [];
  #server: Server;

  private constructor(secret: string) {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const verification = verifyWebhookSignature(secret, request.headers, body);
        if (!verification.ok) {
          this.refused.push(verification.reason);
          response.writeHead(401).end();
          return;
        }
        const parsed = JSON.parse(body.toString('utf8')) as Omit<ReceivedWebhook, 'verified'>;
        if (!this.received.some((w) => w.id === parsed.id)) this.received.push({ ...parsed, verified: true });
        response.writeHead(204).end();
      });
    });
  }

  static async start(secret: string): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  url(path = '/hooks'): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
