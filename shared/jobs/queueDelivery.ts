import type { InvocationContext } from '@azure/functions';

import { asText } from '../storage/entityValues';

/** What a queue function knows about the message it received, from the trigger's metadata. */
export interface QueueDelivery {
  queue: string;
  messageId: string;
  insertedAt: Date;
  /** The message text exactly as delivered (decoded), so a dead letter keeps the body intact. */
  text: string;
  dequeueCount: number;
}

/** Reads the delivery facts the Functions host puts in `triggerMetadata` (falling back for a manual invocation). */
export function queueDeliveryOf(context: InvocationContext, queue: string, message: unknown): QueueDelivery {
  const metadata = context.triggerMetadata ?? {};
  const raw = metadata['queueTrigger'];
  return {
    queue,
    messageId: asText(metadata['id'], context.invocationId),
    insertedAt: new Date(asText(metadata['insertionTime'], new Date().toISOString())),
    text: typeof raw === 'string' ? raw : typeof message === 'string' ? message : JSON.stringify(message),
    dequeueCount: Number(metadata['dequeueCount'] ?? 1),
  };
}

/**
 * What a queue function needs to change its message's visibility itself (the blob poison handler's hold for another
 * app's message): the pop receipt of this receive and when the message expires. Undefined for a manual invocation.
 */
export interface QueueReceipt {
  popReceipt: string;
  /** The message's own expiry: a visibility timeout may not reach past it. */
  expiresAt: Date | undefined;
  dequeueCount: number;
}

/** Reads the receipt the Functions host puts in `triggerMetadata` (`popReceipt`, `expirationTime`, `dequeueCount`). */
export function queueReceiptOf(context: InvocationContext): QueueReceipt | undefined {
  const metadata = context.triggerMetadata ?? {};
  const popReceipt = asText(metadata['popReceipt']);
  if (!popReceipt) return undefined;
  const expiresAt = new Date(asText(metadata['expirationTime']));
  return {
    popReceipt,
    expiresAt: Number.isNaN(expiresAt.getTime()) ? undefined : expiresAt,
    dequeueCount: Math.max(1, Number(metadata['dequeueCount'] ?? 1) || 1),
  };
}

/** The `jobId` a queue message names, if it names one (a poisoned message is not trusted further than that). */
export function jobIdOf(message: unknown): string | undefined {
  const body = typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
  return typeof body['jobId'] === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(body['jobId']) ? body['jobId'] : undefined;
}
