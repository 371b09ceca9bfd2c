import type { ResourceNames } from '../storage/resourceNames';

/** Queues the Functions host and SDKs own: blob receipts, blob trigger queues, poison queues. */
const HOST_QUEUE = /^(azure-)?webjobs-|-poison$/;

/**
 * Why `replyTo` may not be used, or undefined when it may. A reply queue must start with the configured prefix
 * (`REPLY_QUEUE_PREFIX`) and be none of the app's own queues nor a host queue: otherwise a caller could post a
 * completion message into `order-compensate`, a poison queue or `webjobs-*`.
 */
export function replyQueueProblem(queue: string, prefix: string, names: ResourceNames): string | undefined {
  if (!queue.startsWith(prefix)) return `must name a reply queue starting with "${prefix}"`;
  if (HOST_QUEUE.test(queue) || names.triggerQueues.includes(queue)) {
    return 'must not name one of the queues this app or the Functions host uses';
  }
  return undefined;
}
