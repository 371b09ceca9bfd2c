import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';

import { PermanentJobError } from '../jobs/jobErrors';
import { ensureTable, statusOf } from '../storage/tableErrors';
import { GroupCommitter, type Outcome } from './groupCommit';

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
/** An entity group transaction holds at most 100 operations: the stock update and up to this many reservations. */
const MAX_RESERVATION_GROUP = 50;

interface ReservationRequest {
  orderId: string;
  quantity: number;
}
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
 *
 * A reservation row is `reserved`, then either `released` (the stock went back) or `consumed` (the order succeeded
 * and the stock shipped; the nightly check marks it). Stock on hand is the stock row alone, never a sum over
 * reservations, so neither end state changes it; only a `reserved` row can be released.
 */
export class InventoryStore {
  /** Reservations of one SKU from this process go in groups: see GroupCommitter. */
  readonly #reservations = new GroupCommitter<ReservationRequest, void>(
    (sku, group) => this.#commitReservations(sku, group),
    MAX_RESERVATION_GROUP,
  );

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

  async #reserveLine(orderId: string, line: OrderLine): Promise<void> {
    await this.#reservations.submit(line.sku, { orderId, quantity: line.quantity });
  }

  /**
   * Reserves a group of order lines of one SKU: one read of the stock row, then one transaction that decrements it
   * by the group's total (ETag-conditional) and inserts each order's reservation row. Reservations are not read
   * first: an insert fails (409) when the row exists. Lines that do not fit what is left are short (out of stock,
   * unless that order had reserved before). On a lost race (412) the group is read and tried again after a short
   * wait; on a 409 (some order of the group had reserved before) each line goes on its own.
   */
  async #commitReservations(sku: string, group: ReservationRequest[]): Promise<Outcome<void>[]> {
    // The same order twice in one group (a duplicate delivery): reserve once, answer both.
    const unique = [...new Map(group.map((request) => [request.orderId, request])).values()];
    const byOrder = new Map<string, Outcome<void>>();
    const lost: Outcome<void> = { ok: false, error: new Error(`reserving ${sku}: no outcome`) };
    const answer = (): Outcome<void>[] => group.map((request) => byOrder.get(request.orderId) ?? lost);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      let stock;
      try {
        stock = await this.table.getEntity<{ stock: number }>(sku, STOCK_ROW);
      } catch (error) {
        const failure = statusOf(error) === 404 ? new UnknownSkuError(sku) : error;
        return group.map(() => ({ ok: false, error: failure }));
      }
      let left = stock.stock;
      const fits: ReservationRequest[] = [];
      const short: { request: ReservationRequest; available: number }[] = [];
      for (const request of unique) {
        if (request.quantity <= left) {
          fits.push(request);
          left -= request.quantity;
        } else short.push({ request, available: left });
      }
      if (fits.length > 0) {
        const reservedAt = new Date().toISOString();
        const actions: TransactionAction[] = [
          ['update', { partitionKey: sku, rowKey: STOCK_ROW, stock: left }, 'Merge', { etag: stock.etag }],
          ...fits.map((request): TransactionAction => [
            'create',
            {
              partitionKey: sku,
              rowKey: reservationRow(request.orderId),
              quantity: request.quantity,
              state: 'reserved',
              reservedAt,
            },
          ]),
        ];
        try {
          await this.table.submitTransaction(actions);
        } catch (error) {
          const status = statusOf(error);
          if (status === 409) {
            // 409: an order of the group had its reservation already (a repeat, or released by a cancellation,
            // which must not be undone here). Which one the service does not say: each goes on its own.
            if (unique.length === 1) return group.map(() => ({ ok: true, value: undefined }));
            for (const request of unique) {
              const [outcome] = await this.#commitReservations(sku, [request]);
              byOrder.set(request.orderId, outcome ?? lost);
            }
            return answer();
          }
          if (status !== 412) return group.map(() => ({ ok: false, error }));
          await conflictBackoff(attempt); // someone else changed the stock first: read it again
          continue;
        }
        for (const request of fits) byOrder.set(request.orderId, { ok: true, value: undefined });
      }
      for (const { request, available } of short) {
        // Reserved before (or released by a cancellation): not a shortage.
        const existing = await this.#reservation(request.orderId, sku);
        byOrder.set(
          request.orderId,
          existing
            ? { ok: true, value: undefined }
            : { ok: false, error: new OutOfStockError(sku, request.quantity, available) },
        );
      }
      return answer();
    }
    return group.map(() => ({ ok: false, error: new Error(`reserving ${sku} kept conflicting`) }));
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

  /**
   * Marks the order's reservation of `sku` consumed: the stock left with the shipment and is never to be returned.
   * The stock row is not touched (it was decremented when reserving). Only a `reserved` row changes, with its
   * ETag, so a concurrent release and this cannot both win; a repeat finds the row consumed and writes nothing.
   * Returns true when this call made the change. `listed` is the row as the caller just read it (`reserved`, with its
   * ETag): the first try writes against it without reading the row again; a conflict reads it afresh.
   */
  async consume(orderId: string, sku: string, listed?: { etag: string }): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const reservation =
        attempt === 0 && listed ? { state: 'reserved', etag: listed.etag } : await this.#reservation(orderId, sku);
      if (!reservation || reservation.state !== 'reserved') return false;
      try {
        await this.table.updateEntity(
          {
            partitionKey: sku,
            rowKey: reservationRow(orderId),
            state: 'consumed',
            consumedAt: new Date().toISOString(),
          },
          'Merge',
          { etag: reservation.etag },
        );
        return true;
      } catch (error) {
        if (statusOf(error) === 404) return false; // the row is gone: nothing left to mark
        if (!isConflict(error)) throw error;
        await conflictBackoff(attempt);
      }
    }
    throw new Error(`consuming the reservation of ${orderId} on ${sku} kept conflicting`);
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
