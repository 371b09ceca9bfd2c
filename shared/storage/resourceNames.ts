/**
 * Every table, queue and container the app uses, named once. A `RESOURCE_PREFIX` lets several deployments or test
 * runs share one storage account without seeing each other's data. Table names allow only letters and digits;
 * queue and container names allow dashes.
 */
export interface ResourceNames {
  tables: {
    jobs: string;
    deadLetters: string;
    inventory: string;
    payments: string;
    shipments: string;
    emails: string;
    idempotency: string;
    batchRuns: string;
    sales: string;
  };
  queues: {
    orderReserve: string;
    orderReserveHigh: string;
    orderPayment: string;
    orderShipment: string;
    orderEmail: string;
    orderCompensate: string;
    webhooks: string;
    nightlyRun: string;
    exports: string;
  };
  containers: { uploads: string; thumbnails: string; outbox: string; reports: string; exports: string };
  /** Every queue this app triggers on: the health check and dashboard report their depths and poison counts. */
  triggerQueues: string[];
}

/** The host's blob trigger poison queue; its name is fixed by the Functions host. */
export const BLOB_TRIGGER_POISON_QUEUE = 'webjobs-blobtrigger-poison';

export function resourceNames(prefix: string): ResourceNames {
  const dashed = (name: string) => (prefix ? `${prefix}-${name}` : name);
  const table = (name: string) => `${prefix}${name}`;
  const queues = {
    orderReserve: dashed('order-reserve'),
    orderReserveHigh: dashed('order-reserve-high'),
    orderPayment: dashed('order-payment'),
    orderShipment: dashed('order-shipment'),
    orderEmail: dashed('order-email'),
    orderCompensate: dashed('order-compensate'),
    webhooks: dashed('webhooks'),
    nightlyRun: dashed('nightly-run'),
    exports: dashed('exports'),
  };
  return {
    tables: {
      jobs: table('jobs'),
      deadLetters: table('deadletters'),
      inventory: table('inventory'),
      payments: table('payments'),
      shipments: table('shipments'),
      emails: table('emails'),
      idempotency: table('idempotency'),
      batchRuns: table('batchruns'),
      sales: table('sales'),
    },
    queues,
    containers: {
      uploads: dashed('uploads'),
      thumbnails: dashed('thumbnails'),
      outbox: dashed('outbox'),
      reports: dashed('reports'),
      exports: dashed('exports'),
    },
    triggerQueues: Object.values(queues),
  };
}
