import { IdempotencyKeys } from '../orders/idempotencyKeys';
import { replyQueueProblem } from '../orders/replyQueue';
import type { OrderAppServices } from '../orderServices';
import type { StartOrderServices } from './startOrder';

/** `startOrder`'s services on the app's storage and settings; `warn` goes to the invocation's log. */
export function startOrderServices(services: OrderAppServices, warn: (line: string) => void): StartOrderServices {
  const { storage, names, config } = services.app;
  return {
    ...services,
    catalogue: services.inventory,
    idempotencyKeys: async () => {
      const keys = new IdempotencyKeys(storage.table(names.tables.idempotency));
      await keys.ensureTable();
      return keys;
    },
    webhookPolicy: () => config.webhooks,
    replyQueueProblem: (queue) => replyQueueProblem(queue, config.replyQueuePrefix, names),
    warn,
  };
}
