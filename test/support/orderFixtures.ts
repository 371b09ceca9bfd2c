import type { TableClient } from '@azure/data-tables';

import type { ReplyMessage } from '../../shared/workflow/completionNotifier';
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
