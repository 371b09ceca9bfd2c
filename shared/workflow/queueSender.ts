import type { QueueServiceClient } from '@azure/storage-queue';

/** Sends JSON messages, base64-encoded as the Functions host expects (`messageEncoding: base64`). */
export interface QueueSender {
  send(queue: string, body: unknown, options?: { delaySeconds?: number }): Promise<void>;
}

export function queueSender(service: QueueServiceClient): QueueSender {
  const created = new Set<string>();
  return {
    async send(queue, body, options = {}) {
      const client = service.getQueueClient(queue);
      if (!created.has(queue)) {
        await client.createIfNotExists();
        created.add(queue);
      }
      const text = Buffer.from(JSON.stringify(body), 'utf8').toString('base64');
      await client.sendMessage(
        text,
        options.delaySeconds ? { visibilityTimeout: Math.ceil(options.delaySeconds) } : {},
      );
    },
  };
}
