import { z } from 'zod';

import { defineJob } from '../jobs/jobDefinition';
import { isTerminal } from '../jobs/jobTypes';
import { ORDER_JOB_TYPE, type OrderData, orderDataSchema, restartOrderData } from './orderModel';

/** What an order collects as its steps complete: each step adds its part. */
export const orderResultSchema = z.looseObject({
  reserved: z.array(z.object({ sku: z.string(), quantity: z.number() })).optional(),
  charge: z.object({ chargeId: z.string(), amountCents: z.number(), cardLast4: z.string() }).optional(),
  shipment: z.object({ trackingNumber: z.string(), carrier: z.string() }).optional(),
  email: z.object({ state: z.string() }).optional(),
});
export type OrderResult = z.infer<typeof orderResultSchema>;

/**
 * The order job on the runtime. Its steps run from their own queues (`orderStepRunner`), so it has no one-shot
 * `run`; the runtime gives it typed reads, failure classification, dead letters, replay (from the first step, with
 * fresh idempotency keys: the effects were compensated) and cancellation (refused once shipped; otherwise recorded,
 * and the compensation undoes what was done).
 */
export const orderJob = defineJob<OrderData, OrderResult>({
  type: ORDER_JOB_TYPE,
  data: orderDataSchema,
  result: orderResultSchema,
  onReplay: (job) =>
    restartOrderData(job.data, isTerminal(job.status) ? (job.completedAt ?? job.updatedAt) : undefined),
  cancel: {
    refusal: (job) => (job.data.done.includes('shipment') ? 'the order has shipped' : undefined),
    request: (job) => (job.data.cancelRequested ? undefined : { cancelRequested: true }),
  },
});
