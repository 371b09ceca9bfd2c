import { cancelTokenMatches } from '../access/cancelToken';
import type { Job } from '../jobs/jobTypes';
import { orderJob, type OrderResult } from './orderJob';
import type { CompensateMessage, OrderData } from './orderModel';
import type { OrderServices } from './orderPorts';

export type CancelOrderOutcome =
  | { outcome: 'not-found' }
  | { outcome: 'forbidden' }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'accepted'; job: Job<OrderData, OrderResult> };

/** Who asks: the order's creator with the cancel token from the 202, or an operator (the admin route). */
export type CancelAccess = { kind: 'cancel-token'; presented: string | null | undefined } | { kind: 'operator' };

/**
 * Cancels an order that has not shipped, by the order job's cancel policy: the request is recorded on the job
 * (once), and a compensation message undoes what was done and ends it `cancelled`. Refused once shipped or ended;
 * forbidden to a caller without the job's cancel token.
 */
export async function cancelOrder(
  services: Pick<OrderServices, 'runtime' | 'sender' | 'queues'>,
  jobId: string,
  access: CancelAccess,
): Promise<CancelOrderOutcome> {
  const job = await services.runtime.readAny(jobId);
  if (!job) return { outcome: 'not-found' };
  if (access.kind === 'cancel-token' && !cancelTokenMatches(job.correlation.cancelToken, access.presented)) {
    return { outcome: 'forbidden' };
  }
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
