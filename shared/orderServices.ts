import { type AppServices, appServices } from './appServices';
import type { JobStore } from './jobs/jobStore';
import { ConfirmationSender } from './orders/confirmationEmail';
import { InventoryStore } from './orders/inventoryStore';
import { SandboxPaymentGateway } from './orders/paymentGateway';
import { SandboxShippingService } from './orders/shippingService';
import { notifyProgress, orderCompletion } from './workflow/completionNotifier';
import type { OrderServices } from './workflow/orderStepRunner';
import { queueSender } from './workflow/queueSender';

/** The order workflow's services, built once per process. */
export interface OrderAppServices extends OrderServices {
  app: AppServices;
  jobs: JobStore;
  inventory: InventoryStore;
  payments: SandboxPaymentGateway;
  shipping: SandboxShippingService;
  ready: () => Promise<void>;
}

let services: OrderAppServices | undefined;

export function orderServices(log: (message: string) => void = () => undefined): OrderAppServices {
  if (services) return services;
  const app = appServices();
  const { names, storage, config } = app;
  const inventory = new InventoryStore(storage.table(names.tables.inventory));
  const payments = new SandboxPaymentGateway(storage.table(names.tables.payments));
  const shipping = new SandboxShippingService(storage.table(names.tables.shipments));
  const email = new ConfirmationSender({
    smtpUrl: config.email.smtpUrl,
    from: config.email.from,
    outbox: storage.blobs.getContainerClient(names.containers.outbox),
    records: storage.table(names.tables.emails),
  });
  const sender = queueSender(storage.queues);
  const completion = { jobs: app.jobs, sender, webhooks: storage.queues.getQueueClient(names.queues.webhooks) };
  let readiness: Promise<void> | undefined;
  const built: OrderAppServices = {
    app,
    runtime: app.runtime,
    jobs: app.jobs,
    inventory,
    payments,
    shipping,
    email,
    sender,
    queues: {
      step: {
        reserve: names.queues.orderReserve,
        payment: names.queues.orderPayment,
        shipment: names.queues.orderShipment,
        email: names.queues.orderEmail,
      },
      reserveHigh: names.queues.orderReserveHigh,
      compensate: names.queues.orderCompensate,
    },
    // The nightly report reads finished orders from the sales ledger, one day at a time.
    notifyCompletion: orderCompletion(app.sales, completion),
    notifyProgress: (job) => notifyProgress(completion, job),
    log,
    ready() {
      readiness ??= Promise.all([
        app.ready(),
        inventory.ensureTable(),
        payments.ensureTable(),
        shipping.ensureTable(),
        email.ensureStorage(),
      ]).then(
        () => undefined,
        (error: unknown) => {
          readiness = undefined;
          throw error;
        },
      );
      return readiness;
    },
  };
  services = built;
  return built;
}
