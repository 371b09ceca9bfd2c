import type { JobRuntime } from '../jobs/jobRuntime';
import type { Job, JobStatus } from '../jobs/jobTypes';
import type { ConfirmationEmail } from '../orders/confirmationEmail';
import type { OrderLine } from '../orders/inventoryStore';
import type { CardToken } from '../orders/paymentGateway';
import type { OrderStep } from './orderModel';

/**
 * The order workflow's I/O as small interfaces: the Table Storage stores and sandbox services implement them in
 * production (`orderServices.ts`), in-memory fakes in the unit tests of the step runner.
 */

/** Queue names of the workflow (with the resource prefix applied). */
export interface OrderQueues {
  step: Record<OrderStep, string>;
  /** High-priority orders start here; the reserve step drains it before the normal start queue. */
  reserveHigh: string;
  compensate: string;
}

/** Sends a JSON message to a queue (base64, as the Functions host expects). */
export interface MessageSender {
  send(queue: string, body: unknown, options?: { delaySeconds?: number }): Promise<void>;
}

export interface StockReservations {
  reserve(orderId: string, lines: readonly OrderLine[]): Promise<void>;
  release(orderId: string, lines: readonly OrderLine[]): Promise<number>;
}

export interface Payments {
  charge(
    orderId: string,
    amountCents: number,
    card: CardToken,
  ): Promise<{ chargeId: string; amountCents: number; cardLast4: string }>;
  refund(orderId: string, reason: string): Promise<boolean>;
}

export interface Shipping {
  createShipment(
    orderId: string,
    address: Record<string, string>,
  ): Promise<{ trackingNumber: string; carrier: string }>;
  get(orderId: string): Promise<{ trackingNumber: string } | undefined>;
  voidShipment(orderId: string): Promise<void>;
}

export interface ConfirmationEmails {
  send(email: ConfirmationEmail): Promise<'sent' | 'already-sent'>;
}

/** Lists jobs (the supervisor's jobs in flight). */
export interface JobListing {
  list(query: {
    type?: string;
    statuses?: readonly JobStatus[];
    limit?: number;
    continuationToken?: string;
  }): Promise<{ jobs: Job[]; continuationToken?: string }>;
}

export interface OrderServices {
  runtime: JobRuntime;
  jobs: JobListing;
  inventory: StockReservations;
  payments: Payments;
  shipping: Shipping;
  email: ConfirmationEmails;
  queues: OrderQueues;
  sender: MessageSender;
  /** Tells the caller the outcome (reply queue, webhook) once the job is terminal. */
  notifyCompletion(job: Job): Promise<void>;
  /** A progress milestone (a step done), for callers with a webhook. */
  notifyProgress(job: Job): Promise<void>;
  log(message: string): void;
}
