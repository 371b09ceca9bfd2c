import type { OrderAppServices } from '../orderServices';
import { superviseOrdersNow } from '../workflow/orderQueueServices';
import { BatchRunStore } from './batchRunStore';
import type { NightlyServices } from './nightlyBatch';
import type { NightlyRequestServices, NightlyRunMessage } from './nightlyRequests';

/** The nightly batch's services on the app's storage and settings. */
export interface NightlyAppServices {
  /** Who asks for a run (timer, API) and where runs are claimed. */
  requests: NightlyRequestServices;
  /** Missed nights caught up after an outage, at most. */
  maxCatchUpDays: number;
  /** One run's services; `log` goes to the invocation's log. */
  batch(log: (line: string) => void): NightlyServices;
}

/** Builds the nightly batch's services over the order services (the batch supervises stuck orders too). */
export function nightlyAppServices(services: OrderAppServices): NightlyAppServices {
  const { names, config, storage } = services.app;
  const runs = new BatchRunStore(storage.table(names.tables.batchRuns), config.nightly.leaseMs);
  return {
    requests: {
      runtime: services.runtime,
      runs,
      sender: services.sender,
      runQueue: names.queues.nightlyRun,
      leaseMs: config.nightly.leaseMs,
    },
    maxCatchUpDays: config.nightly.maxCatchUpDays,
    batch: (log) => ({
      runtime: services.runtime,
      jobs: services.jobs,
      runs,
      sales: services.app.sales,
      deadLetters: services.app.deadLetters,
      inventory: services.inventory,
      inventoryTable: storage.table(names.tables.inventory),
      reports: storage.blobs.getContainerClient(names.containers.reports),
      uploads: storage.blobs.getContainerClient(names.containers.uploads),
      thumbnails: storage.blobs.getContainerClient(names.containers.thumbnails),
      retention: config.retention,
      superviseStuckOrders: async () => {
        const report = await superviseOrdersNow(services);
        return report.redriven.length + report.gaveUp.length;
      },
      runAgainLater: (date, delayMs, inFlight) =>
        services.sender.send(names.queues.nightlyRun, { date, inFlight } satisfies NightlyRunMessage, {
          delaySeconds: delayMs / 1000,
        }),
      log,
    }),
  };
}
