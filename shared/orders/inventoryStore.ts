import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';

import { PermanentJobError } from '../jobs/jobErrors';
import { ensureTable, statusOf } from '../storage/tableErrors';

/** One line of an order. */
export interface OrderLine {
  sku: string;
  quantity: number;
}

export interface CatalogueItem {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** Permanent: not enough stock for a line (the step fails for good and the order is compensated). */
export class OutOfStockError extends PermanentJobError {
  override readonly name = 'OutOfStockError';
  constructor(
    readonly sku: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super('OUT_OF_STOCK', `not enough stock for ${sku}: ${requested} requested, ${available} available`);
  }
}

/** Permanent: a line names a SKU the catalogue does not have. */
export class UnknownSkuError extends PermanentJobError {
  override readonly name = 'UnknownSkuError';
  constructor(readonly sku: string) {
    super('UNKNOWN_SKU', `unknown SKU ${sku}`);
  }
}

const STOCK_ROW = 'stock';
const MAX_CONFLICT_RETRIES = 20;

function reservationRow(orderId: string): string {
  return `res-${orderId}`;
}

/** After a lost race on a stock row: a short random wait, growing with the attempts, so racers spread out. */
function conflictBackoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * (attempt + 1)));
}

/** A transaction failed because a row changed (412) or already existed (409). */
function isConflict(error: unknown): boolean {
  const status = statusOf(error);
  return status === 409 || status === 412;
}

/**
 * Stock per SKU, and each order's reservation of it, in the SKU's own partition: a reservation is one entity group
 * transaction that decrements the stock row (ETag-conditional) and inserts the order's reservation row. Inserting
 * the row twice fails, so reserving twice never decrements twice, whatever the retries; releasing flips the row and
 * restores the stock in one transaction, so it happens once too.
 */
export class InventoryStore {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async setItem(item: CatalogueItem): Promise<void> {
    await this.table.upsertEntity(
      { partitionKey: item.sku, rowKey: STOCK_ROW, name: item.name, priceCents: item.priceCents, stock: item.stock },
      'Merge',
    );
  }

  async getItem(sku: string): Promise<CatalogueItem | undefined> {
    try {
      const row = await this.table.getEntity<{ name: string; priceCents: number; stock: number }>(sku, STOCK_ROW);
      return { sku, name: row.name, priceCents: row.priceCents, stock: row.stock };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** True when the catalogue has no item yet (the demo catalogue is seeded then). */
  async isEmpty(): Promise<boolean> {
    try {
      const page = await this.table
        .listEntities({ queryOptions: { filter: odata`RowKey eq ${STOCK_ROW}`, select: ['PartitionKey'] } })
        .byPage({ maxPageSize: 1 })
        .next();
      return page.done === true || page.value.length === 0;
    } catch (error) {
      if (statusOf(error) === 404) return true;
      throw error;
    }
  }

  /** Reserves every line for the order; on a shortage, releases what this order holds and throws OutOfStockError. */
  async reserve(orderId: string, lines: readonly OrderLine[]): Promise<void> {
    try {
      for (const line of lines) await this.#reserveLine(orderId, line);
    } catch (error) {
      if (error instanceof OutOfStockError || error instanceof UnknownSkuError) await this.release(orderId, lines);
      throw error;
    }
  }

  /**
   * Reads the stock row and commits the decrement with the reservation in one transaction. The reservation is not
   * read first: the transaction's insert fails (409) when it exists, and only a shortage reads it. One read fewer
   * per line on the SKU's partition, which every order of that SKU shares.
   */
  async #reserveLine(orderId: string, line: OrderLine): Promise<void> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      let stock;
      try {
        stock = await this.table.getEntity<{ stock: number }>(line.sku, STOCK_ROW);
      } catch (error) {
        if (statusOf(error) === 404) throw new UnknownSkuError(line.sku);
        throw error;
      }
      if (stock.stock < line.quantity) {
        // Reserved before (or released by a cancellation, which must not be undone here): not a shortage.
        if (await this.#reservation(orderId, line.sku)) return;
        throw new OutOfStockError(line.sku, line.quantity, stock.stock);
      }
      const actions: TransactionAction[] = [
        [
          'update',
          { partitionKey: line.sku, rowKey: STOCK_ROW, stock: stock.stock - line.quantity },
          'Merge',
          { etag: stock.etag },
        ],
        [
          'create',
          {
            partitionKey: line.sku,
            rowKey: reservationRow(orderId),
            quantity: line.quantity,
            state: 'reserved',
            reservedAt: new Date().toISOString(),
          },
        ],
      ];
      try {
        await this.table.submitTransaction(actions);
        return;
      } catch (error) {
        const status = statusOf(error);
        // 409: the insert found this order's reservation (a repeat, or released by a cancellation, which must not
        // be undone here). 412: someone else changed the stock first; read it again after a short wait.
        if (status === 409) return;
        if (status !== 412) throw error;
        await conflictBackoff(attempt);
      }
    }
    throw new Error(`reserving ${line.sku} for ${orderId} kept conflicting`);
  }

  /** Returns the order's reserved stock; safe to call any number of times. Returns how many lines were released. */
  async release(orderId: string, lines: readonly OrderLine[]): Promise<number> {
    let released = 0;
    for (const line of lines) {
      for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
        const reservation = await this.#reservation(orderId, line.sku);
        if (!reservation || reservation.state !== 'reserved') break;
        const stock = await this.table.getEntity<{ stock: number }>(line.sku, STOCK_ROW);
        try {
          await this.table.submitTransaction([
            [
              'update',
              { partitionKey: line.sku, rowKey: STOCK_ROW, stock: stock.stock + reservation.quantity },
              'Merge',
              { etag: stock.etag },
            ],
            [
              'update',
              {
                partitionKey: line.sku,
                rowKey: reservationRow(orderId),
                state: 'released',
                releasedAt: new Date().toISOString(),
              },
              'Merge',
              { etag: reservation.etag },
            ],
          ]);
          released++;
          break;
        } catch (error) {
          if (!isConflict(error)) throw error;
          await conflictBackoff(attempt);
        }
      }
    }
    return released;
  }

  async #reservation(
    orderId: string,
    sku: string,
  ): Promise<{ quantity: number; state: string; etag: string } | undefined> {
    try {
      const row = await this.table.getEntity<{ quantity: number; state: string }>(sku, reservationRow(orderId));
      return { quantity: row.quantity, state: row.state, etag: row.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The order's reservation rows by state (tests and the consistency check count them). */
  async reservationsOf(
    orderId: string,
    skus: readonly string[],
  ): Promise<{ sku: string; quantity: number; state: string }[]> {
    const rows = [];
    for (const sku of skus) {
      const row = await this.#reservation(orderId, sku);
      if (row) rows.push({ sku, quantity: row.quantity, state: row.state });
    }
    return rows;
  }
}
