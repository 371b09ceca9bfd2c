import type { OrderAppServices } from '../orderServices';
import { cachedDepth, type OrderMessageServices } from './orderMessages';
import { superviseOrders, type SupervisorReport } from './orderSupervisor';

/** The step queue handlers' services: the order services and a cached look at the high-priority queue's depth. */
export function orderMessageServices(services: OrderAppServices): OrderMessageServices {
  const highPriority = services.app.storage.queues.getQueueClient(services.app.names.queues.orderReserveHigh);
  return {
    ...services,
    highPriorityWaiting: cachedDepth(async () => {
      // Unknown depth (storage hiccup) counts as none waiting: a normal order is not held back on a guess.
      const waiting = await highPriority.getProperties().catch(() => undefined);
      return waiting?.approximateMessagesCount ?? 0;
    }),
  };
}

/** One supervisor pass with the configured step deadline and re-drive limit. */
export function superviseOrdersNow(services: OrderAppServices): Promise<SupervisorReport> {
  const { config } = services.app;
  return superviseOrders(services, {
    stepDeadlineMs: config.orders.stepDeadlineMs,
    maxRedrives: config.orders.maxRedrives,
  });
}

/** The supervisor's log line, or undefined when it changed nothing (a quiet pass logs nothing). */
export function supervisorLogLine(report: SupervisorReport): string | undefined {
  if (report.redriven.length === 0 && report.gaveUp.length === 0) return undefined;
  return `supervisor: ${report.examined} in flight, re-drove ${report.redriven.join(', ') || 'none'}, gave up on ${report.gaveUp.join(', ') || 'none'}`;
}
