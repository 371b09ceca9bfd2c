import type { Job } from '../jobs/jobTypes';
import { orderJob, type OrderResult } from './orderJob';
import type { CompensateMessage, OrderData } from './orderModel';
import type { OrderServices } from './orderPorts';

export type CancelOrderOutcome =
  | { outcome: 'not-found' }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'accepted'; job: Job<OrderData, OrderResult> };

/**
 * Cancels an order that has not shipped, by the order job's cancel policy: the request is recorded on the job
 * (once), and a compensation message undoes what was done and ends it `cancelled`. Refused once shipped or ended.
 */
export async function cancelOrder(
  services: Pick<OrderServices, 'runtime' | 'sender' | 'queues'>,
  jobId: string,
): Promise<CancelOrderOutcome> {
  const cancelled = await services.runtime.cancel(orderJob, jobId);
  switch (cancelled.outcome) {
    case 'not-found':
    case 'refused':
      return cancelled;
    case 'requested':
    case 'cancelled': {
      const message: CompensateMessage = {
        jobId,
        reason: { code: 'CANCELLED', message: 'cancelled by the caller' },
        cancellation: true,
      };
      await services.sender.send(services.queues.compensate, message);
      return { outcome: 'accepted', job: cancelled.job };
    }
    default: {
      const never: never = cancelled;
      throw new Error(`unknown cancel outcome ${JSON.stringify(never)}`);
    }
  }
}
