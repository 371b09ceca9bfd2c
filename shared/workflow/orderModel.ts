import { z } from 'zod';

/** The order workflow's steps, in order. Each runs from its own queue. */
export const ORDER_STEPS = ['reserve', 'payment', 'shipment', 'email'] as const;
export type OrderStep = (typeof ORDER_STEPS)[number];
export const ORDER_JOB_TYPE = 'order';

/** A step message: which order, which step. Small, and nothing secret. */
export const stepMessageSchema = z.object({
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  step: z.enum(ORDER_STEPS),
  /** Why this message exists: the normal hand-on, a supervisor re-drive, a dead-letter replay. */
  cause: z.enum(['start', 'next', 'redrive', 'replay']).optional(),
  /** How many times this start message was held back behind high-priority orders (bounded; see orderMessages). */
  deferrals: z.number().int().min(1).max(1000).optional(),
});
export type StepMessage = z.infer<typeof stepMessageSchema>;

export const compensateMessageSchema = z.object({
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  reason: z.object({ code: z.string().max(100), message: z.string().max(2000) }),
  cancellation: z.boolean().optional(),
});
export type CompensateMessage = z.infer<typeof compensateMessageSchema>;

/** What the order job keeps in its private `data`: the validated request (card tokenized) and the checkpoint. */
export const orderDataSchema = z.object({
  customer: z.object({ name: z.string(), email: z.string() }),
  lines: z.array(z.object({ sku: z.string(), name: z.string(), quantity: z.number(), priceCents: z.number() })),
  totalCents: z.number(),
  card: z.object({ token: z.string(), last4: z.string() }),
  address: z.record(z.string(), z.string()),
  priority: z.enum(['normal', 'high']),
  notBefore: z.string().optional(),
  /** The checkpoint: steps whose effect is done, in order. */
  done: z.array(z.enum(ORDER_STEPS)).default([]),
  /** Steps whose effect was undone. */
  undone: z.array(z.enum(ORDER_STEPS)).default([]),
  cancelRequested: z.boolean().optional(),
  redrives: z.number().default(0),
  /** The outcome the caller was told (reply queue, webhook): told once per run, and it stands. */
  notified: z.string().optional(),
  /**
   * The outbox flag: set by the write that ends the order when its caller is to be told, cleared by the write that
   * marks it told. Still set on an ended order, it means the notification may not have gone: a redelivered message
   * that finds the order ended sends it (again).
   */
  notifyOwed: z.boolean().optional(),
  /** Bumped when a dead-lettered order is replayed from the start: its effects get fresh idempotency keys. */
  generation: z.number().default(0),
  /**
   * How many times the order was reopened after it ended (a late step to undo, a dead-letter replay), bumped by the
   * reopening write itself (ETag-conditional, so never twice for one reopen). The sales ledger keeps the fact of the
   * highest: a stale redelivery carrying an earlier end cannot overwrite a later one (see `SalesFacts.record`).
   */
  reopens: z.number().default(0),
  /**
   * The UTC days (YYYY-MM-DD) on which the order ended before a reopen, added by the reopening write. The sales fact
   * belongs to the day of the latest end: the ledger supersedes the rows of these days when the order ends again.
   */
  earlierEndDays: z.array(z.string()).optional(),
});
export type OrderData = z.infer<typeof orderDataSchema>;

/** The idempotency key of an order's effects (reservation, charge, shipment, email) in its current generation. */
export function effectKey(jobId: string, data: OrderData): string {
  return data.generation > 0 ? `${jobId}.${data.generation}` : jobId;
}

/**
 * The data change of a write that reopens an order that ended at `endedAt`: one more reopen, so the sales fact of the
 * end to come is told apart from (and wins over) the fact of the end before it, and the day of that end, whose
 * ledger row the next end supersedes (one fact per order, under the day of its latest end).
 */
export function reopenOrderData(
  data: OrderData,
  endedAt: string | undefined,
): Pick<OrderData, 'reopens' | 'earlierEndDays'> {
  const days = data.earlierEndDays ?? [];
  const day = endedAt?.slice(0, 10);
  return { reopens: data.reopens + 1, earlierEndDays: day && !days.includes(day) ? [...days, day] : days };
}

/**
 * The data changes that restart a dead-lettered order from its first step (a new run: its outcome is told anew). An
 * order that had ended (at `endedAt`) is reopened by it ({@link reopenOrderData}); one replayed while still in flight
 * had no end.
 */
export function restartOrderData(data: OrderData, endedAt: string | undefined): Partial<OrderData> {
  return {
    ...(endedAt ? reopenOrderData(data, endedAt) : {}),
    done: [],
    undone: [],
    cancelRequested: false,
    redrives: 0,
    notified: undefined,
    notifyOwed: undefined,
    generation: data.generation + 1,
  };
}

export function stepIndex(step: OrderStep): number {
  return ORDER_STEPS.indexOf(step);
}

/** The first step whose effect is not done yet, or undefined when all are. */
export function nextStep(done: readonly OrderStep[]): OrderStep | undefined {
  return ORDER_STEPS.find((step) => !done.includes(step));
}
