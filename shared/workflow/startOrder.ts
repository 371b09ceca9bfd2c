import { newCancelToken } from '../access/cancelToken';
import type { WebhookSettings } from '../config/appConfig';
import { JobStore } from '../jobs/jobStore';
import { assertWebhookTargetAllowed, WEBHOOK_TARGET_REFUSED_MESSAGE } from '../notify/webhookTarget';
import { bodyFingerprint, idempotencyKeyProblem, type IdempotencyKeys } from '../orders/idempotencyKeys';
import type { CatalogueItem } from '../orders/inventoryStore';
import { MAX_NOT_BEFORE_MS, type OrderRequest } from '../orders/orderRequest';
import { tokenizeCard } from '../orders/paymentGateway';
import { orderJob } from './orderJob';
import type { OrderData, StepMessage } from './orderModel';
import type { OrderServices } from './orderPorts';

/** What starting an order needs besides the workflow's ports. */
export interface StartOrderServices extends Pick<OrderServices, 'runtime' | 'sender' | 'queues'> {
  catalogue: { getItem(sku: string): Promise<CatalogueItem | undefined> };
  /** Present when the deployment keeps idempotency keys (always in production). */
  idempotencyKeys: () => Promise<Pick<IdempotencyKeys, 'claim'>>;
  webhookPolicy: () => WebhookSettings;
  /** Why a reply queue may not be used, or undefined when it may. */
  replyQueueProblem: (queue: string) => string | undefined;
  /** For the operator's log: what the caller is not told (why a webhook target was refused). */
  warn: (line: string) => void;
}

export type StartOrderOutcome =
  | { outcome: 'accepted'; jobId: string; cancelToken?: string }
  | { outcome: 'invalid'; errors: { field: string; message: string }[] }
  | { outcome: 'unknown-sku'; skus: string[]; errors: { field: string; message: string }[] }
  | { outcome: 'idempotency-key-reused' };

/**
 * Starts an order: checks what the schema cannot (the Idempotency-Key, the start time, the reply queue, the webhook
 * target), prices
 * every line from the catalogue, claims the idempotency key, creates the order job and queues its first step
 * (the high-priority queue for `priority: "high"`, delayed until `notBefore`). A repeat with the same key and body
 * gets the first order's id (and cancel token); a crash between claiming and creating is finished by the repeat.
 */
export async function startOrder(
  services: StartOrderServices,
  order: OrderRequest,
  idempotencyKey: string | undefined,
): Promise<StartOrderOutcome> {
  const keyProblem = idempotencyKey === undefined ? undefined : idempotencyKeyProblem(idempotencyKey);
  if (keyProblem) return { outcome: 'invalid', errors: [keyProblem] };
  let delayMs = 0;
  if (order.notBefore) {
    delayMs = Math.max(0, Date.parse(order.notBefore) - Date.now());
    if (delayMs > MAX_NOT_BEFORE_MS) {
      return {
        outcome: 'invalid',
        errors: [
          { field: 'notBefore', message: 'must be at most 7 days ahead (the longest a queue message can wait)' },
        ],
      };
    }
  }
  const replyQueueRefusal = order.replyTo ? services.replyQueueProblem(order.replyTo) : undefined;
  if (replyQueueRefusal) return { outcome: 'invalid', errors: [{ field: 'replyTo', message: replyQueueRefusal }] };
  if (order.callbackUrl) {
    const policy = services.webhookPolicy();
    if (!policy.signingSecret) {
      return {
        outcome: 'invalid',
        errors: [
          { field: 'callbackUrl', message: 'webhooks are not configured on this deployment (WEBHOOK_SIGNING_SECRET)' },
        ],
      };
    }
    try {
      await assertWebhookTargetAllowed(order.callbackUrl, policy.target);
    } catch (error) {
      // What a name resolves to is the deployment's business: the caller learns only that it is refused.
      services.warn(`callbackUrl refused: ${(error as Error).message}`);
      return { outcome: 'invalid', errors: [{ field: 'callbackUrl', message: WEBHOOK_TARGET_REFUSED_MESSAGE }] };
    }
  }
  // Price every line from the catalogue; an unknown SKU is a request the server understands but cannot fulfil.
  const lines: OrderData['lines'] = [];
  const unknown: string[] = [];
  for (const item of order.items) {
    const catalogued = await services.catalogue.getItem(item.sku);
    if (!catalogued) unknown.push(item.sku);
    else
      lines.push({ sku: item.sku, name: catalogued.name, quantity: item.quantity, priceCents: catalogued.priceCents });
  }
  if (unknown.length > 0) {
    return {
      outcome: 'unknown-sku',
      skus: unknown,
      errors: order.items
        .map((item, index) => ({ field: `items[${index}].sku`, message: `unknown SKU ${item.sku}` }))
        .filter((entry) => unknown.some((sku) => entry.message.endsWith(` ${sku}`))),
    };
  }

  let jobId = JobStore.newJobId('ord');
  if (idempotencyKey !== undefined) {
    const keys = await services.idempotencyKeys();
    const claim = await keys.claim(idempotencyKey, bodyFingerprint(order), jobId);
    if (claim.kind === 'mismatch') return { outcome: 'idempotency-key-reused' };
    jobId = claim.jobId;
    // A repeat whose job exists gets the same answer; one whose first attempt crashed before creating it goes on.
    if (claim.kind === 'repeat') {
      const existing = await services.runtime.read(orderJob, jobId);
      if (existing) return accepted(jobId, existing.correlation.cancelToken);
    }
  }

  const priority = order.priority ?? 'normal';
  const { created, job } = await services.runtime.create(orderJob, {
    id: jobId,
    data: {
      customer: order.customer,
      lines,
      totalCents: lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0),
      card: tokenizeCard(order.payment.cardNumber),
      address: order.shippingAddress,
      priority,
      ...(order.notBefore ? { notBefore: order.notBefore } : {}),
      done: [],
      undone: [],
      redrives: 0,
      generation: 0,
      reopens: 0,
    },
    correlation: {
      ...(order.replyTo ? { replyTo: order.replyTo } : {}),
      ...(order.callbackUrl ? { callbackUrl: order.callbackUrl } : {}),
      ...(idempotencyKey ? { idempotencyKey } : {}),
      cancelToken: newCancelToken(),
    },
    progress: {
      step: 'queued',
      index: 0,
      total: 4,
      percent: 0,
      message: delayMs > 0 ? `starts at ${order.notBefore ?? ''}` : 'queued',
    },
    event: `order of ${lines.length} line(s), ${priority} priority`,
  });
  if (created) {
    const message: StepMessage = { jobId, step: 'reserve', cause: 'start' };
    const queue = priority === 'high' ? services.queues.reserveHigh : services.queues.step.reserve;
    await services.sender.send(queue, message, { delaySeconds: delayMs / 1000 });
  }
  return accepted(jobId, job.correlation.cancelToken);
}

/** The cancel token goes only to the order's creator (and a repeat with the same Idempotency-Key). */
function accepted(jobId: string, cancelToken: string | undefined): StartOrderOutcome {
  return { outcome: 'accepted', jobId, ...(cancelToken ? { cancelToken } : {}) };
}
