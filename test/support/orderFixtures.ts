import { odata, type TableClient } from '@azure/data-tables';

import type { ReplyMessage } from '../../shared/workflow/completionNotifier';
import { compensateMessageSchema, type OrderData, stepMessageSchema } from '../../shared/workflow/orderModel';
import type { OrderServices } from '../../shared/workflow/orderPorts';
import { compensateOrder, runOrderStep } from '../../shared/workflow/orderStepRunner';
import { storageClients } from './storage';

export const CARDS = { ok: '4242424242424242', declined: '4000000000000002', flaky: '4000000000000119' };

export function orderBody(overrides: Record<string, unknown> = {}, items = [{ sku: 'SKU-A', quantity: 2 }]) {
  return {
    customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
    items,
    payment: { cardNumber: CARDS.ok },
    shippingAddress: { line1: '12 Analytical Row', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
    ...overrides,
  };
}

/** Reads the workflow's effects straight from storage: what the invariants are checked against. */
export class OrderLedger {
  readonly payments: TableClient;
  readonly inventory: TableClient;
  readonly emails: TableClient;
  readonly shipments: TableClient;

  constructor(prefix: string) {
    const clients = storageClients();
    this.payments = clients.table(`${prefix}payments`);
    this.inventory = clients.table(`${prefix}inventory`);
    this.emails = clients.table(`${prefix}emails`);
    this.shipments = clients.table(`${prefix}shipments`);
  }

  async #rows(table: TableClient, partition: string): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    try {
      for await (const row of table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${partition.replace(/'/g, "''")}'` },
      })) {
        rows.push(row);
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return rows;
  }

  /** Charges not refunded, reservations still held, emails sent: per order (its effect key). */
  async effects(orderKey: string, skus: string[]) {
    const ledger = await this.#rows(this.payments, orderKey);
    const charges = ledger.filter((r) => r['rowKey'] === 'charge').length;
    const refunds = ledger.filter((r) => r['rowKey'] === 'refund').length;
    let reservations = 0;
    let released = 0;
    for (const sku of skus) {
      for (const row of await this.#rows(this.inventory, sku)) {
        if (row['rowKey'] !== `res-${orderKey}`) continue;
        // Consumed: the nightly check found the order succeeded; the stock is still out (shipped).
        if (row['state'] === 'reserved' || row['state'] === 'consumed') reservations++;
        else released++;
      }
    }
    const emails = (await this.#rows(this.emails, orderKey)).filter((r) => r['state'] === 'sent').length;
    const shipments = (await this.#rows(this.shipments, orderKey)).filter((r) => r['state'] === 'created').length;
    return { charges, refunds, reservations, released, emails, shipments };
  }

  async stock(sku: string): Promise<number> {
    const row = await this.inventory.getEntity<{ stock: number }>(sku, 'stock');
    return row.stock;
  }
}

/** A queue sender that keeps what it is given: replies to `repliesQueue` in `replies`, anything else in `sent`. */
export function recordingSender(
  repliesQueue: string,
  replies: ReplyMessage[],
  sent: { queue: string; body: unknown }[],
): { send(queue: string, body: unknown): Promise<void> } {
  return {
    send: (queue, body) => {
      if (queue === repliesQueue) replies.push(body as ReplyMessage);
      else sent.push({ queue, body });
      return Promise.resolve();
    },
  };
}

/** The workflow's queue names in the tests that run its steps by hand (`deliverOrderMessages`). */
export const ORDER_TEST_QUEUES = {
  step: { reserve: 'q-reserve', payment: 'q-payment', shipment: 'q-shipment', email: 'q-email' },
  reserveHigh: 'q-reserve-high',
  compensate: 'q-compensate',
};

/**
 * Delivers the workflow messages a recording sender kept, oldest first, to the step runner or to compensation, until
 * none is left (a step's own messages included); returns each delivery's outcome. `onEach` sees each message first.
 */
export async function deliverOrderMessages(
  services: OrderServices,
  sent: { queue: string; body: unknown }[],
  onEach?: (message: { queue: string; body: unknown }) => void,
): Promise<string[]> {
  const outcomes: string[] = [];
  for (let message = sent.shift(); message; message = sent.shift()) {
    onEach?.(message);
    outcomes.push(
      message.queue === services.queues.compensate
        ? await compensateOrder(services, compensateMessageSchema.parse(message.body))
        : await runOrderStep(services, stepMessageSchema.parse(message.body)),
    );
  }
  return outcomes;
}

/** Every row the sales ledger holds for an order, whatever its partition (a repeat in another would show). */
export async function ledgerRowsOf(table: TableClient, orderId: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({
    queryOptions: { filter: odata`RowKey eq ${orderId}` },
  })) {
    rows.push(row);
  }
  return rows;
}

/**
 * An order as its job stores it, started and untouched: one mug (500 cents) unless `overrides` says otherwise (each
 * field given replaces the default whole).
 */
export function newOrderData(overrides: Partial<OrderData> = {}): OrderData {
  return {
    customer: { name: 'Ada', email: 'ada@example.com' },
    lines: [{ sku: 'MUG-1', name: 'Mug', quantity: 1, priceCents: 500 }],
    totalCents: 500,
    card: { token: 'tok', last4: '4242' },
    address: { postalCode: 'N1 9GU' },
    priority: 'normal',
    done: [],
    undone: [],
    redrives: 0,
    generation: 0,
    reopens: 0,
    ...overrides,
  };
}

/** An order of one mug (500 cents); `card` is the payment token. */
export function oneMugOrder(card = 'tok'): OrderData {
  return newOrderData({ card: { token: card, last4: '4242' } });
}

/** A shipping service that ships everything at once (tracking number `T-{key}`) and voids without a trace. */
export function instantShipping(): OrderServices['shipping'] {
  return {
    createShipment: (key) => Promise.resolve({ trackingNumber: `T-${key}`, carrier: 'fake' }),
    get: () => Promise.resolve(undefined),
    voidShipment: () => Promise.resolve(),
  };
}
