import { odata, type TableClient } from '@azure/data-tables';

import type { JobStore } from '../jobs/jobStore';
import type { Job } from '../jobs/jobTypes';
import type { InventoryStore } from '../orders/inventoryStore';

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * How much later than its order's job a reservation may have been taken (the reserve message waited in its queue).
 * Retention deletes a job by its creation time, so a reservation of a job retention deleted can be this much younger
 * than the retention period.
 */
const RESERVE_AFTER_CREATE_MAX_MS = DAY_MS;

/** A reservation the check ended: released (the stock went back) or consumed (it stays shipped). */
export interface CheckedReservation {
  sku: string;
  orderKey: string;
  quantity: number;
  reason: string;
}

export interface ReservationCheck {
  released: CheckedReservation[];
  /** Of succeeded orders. */
  consumed: CheckedReservation[];
  /** Consumed too, but by judgement: the order is gone (see `reconcileReservations`). */
  takenAsShipped: CheckedReservation[];
}

export interface ReservationCheckOptions {
  now: Date;
  /** Job retention in milliseconds: a reservation older than this whose order is gone is taken as shipped. */
  jobRetentionMs: number;
}

/**
 * Ends every stock reservation still `reserved` whose order no longer needs it, so that only reservations of orders
 * in flight are read again the next night (a job read per reservation row, bounded by the orders of about a day):
 *
 * - the order `succeeded`: the stock shipped. The reservation is marked `consumed` and never examined or released
 *   again, so deleting the order's job later (retention) cannot put shipped stock back. This is the one write per
 *   succeeded order, here rather than in the workflow, so an order's own path pays no table operation for it.
 *   Retention runs first each night but keeps jobs for `JOB_RETENTION_DAYS` (≥ 1), so a succeeded order is seen
 *   here on each night until then — at least once unless the batch stops for that long.
 * - the order ended without succeeding (failed, compensated, cancelled) or was restarted under a new generation:
 *   the reservation is released (compensation normally did that already; this catches what it missed).
 * - the order's job is gone: only retention deletes jobs. A reservation older than the retention period (less the
 *   time a reserve may lag its job) belongs to an order retention deleted; it is from before this check marked
 *   succeeded orders consumed, or the batch did not run for the whole period. Such an order most likely succeeded
 *   (an order that did not had its stock released by compensation or by this check while its job was kept), so it
 *   is marked consumed: wrongly keeping stock out is seen and fixed by a count; wrongly putting shipped stock back
 *   oversells stock that is not there. A younger reservation without a job (its order never kept) is released.
 *
 * Each order is read once per run however many lines it has. Release and consume are idempotent and ETag-guarded,
 * so a resumed run repeats nothing.
 */
export async function reconcileReservations(
  inventoryTable: TableClient,
  inventory: InventoryStore,
  jobs: JobStore,
  options: ReservationCheckOptions,
): Promise<ReservationCheck> {
  const result: ReservationCheck = { released: [], consumed: [], takenAsShipped: [] };
  const orders = new Map<string, Job | undefined>();
  const shippedBefore = options.now.getTime() - options.jobRetentionMs + RESERVE_AFTER_CREATE_MAX_MS;
  try {
    const rows = inventoryTable.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`RowKey ge ${'res-'} and RowKey lt ${'res.'} and state eq ${'reserved'}` },
    });
    for await (const row of rows) {
      const sku = String(row.partitionKey);
      const orderKey = String(row.rowKey).slice('res-'.length);
      const [jobId = '', generationText] = orderKey.split('.');
      const generation = Number(generationText ?? 0);
      if (!orders.has(jobId)) orders.set(jobId, await jobs.get(jobId));
      const job = orders.get(jobId);
      const quantity = Number(row['quantity'] ?? 0);
      const reservedAtText = row['reservedAt'];
      const reservedAt = typeof reservedAtText === 'string' ? Date.parse(reservedAtText) : Number.NaN;
      let verdict: { outcome: keyof ReservationCheck; reason: string } | undefined;
      if (!job) {
        // No reservedAt (never written so) counts as old: the safe side is to keep the stock out.
        verdict =
          Number.isNaN(reservedAt) || reservedAt < shippedBefore
            ? { outcome: 'takenAsShipped', reason: 'the order is gone after retention; taken as shipped' }
            : { outcome: 'released', reason: 'the order no longer exists' };
      } else if (Number(job.data['generation'] ?? 0) !== generation) {
        verdict = { outcome: 'released', reason: 'the order was restarted' };
      } else if (job.status === 'succeeded') {
        verdict = { outcome: 'consumed', reason: 'the order succeeded' };
      } else if (['failed', 'compensated', 'cancelled'].includes(job.status)) {
        verdict = { outcome: 'released', reason: `the order is ${job.status}` };
      }
      if (!verdict) continue;
      const entry = { sku, orderKey, quantity, reason: verdict.reason };
      const changed =
        verdict.outcome === 'released'
          ? (await inventory.release(orderKey, [{ sku, quantity }])) > 0
          : await inventory.consume(orderKey, sku, typeof row.etag === 'string' ? { etag: row.etag } : undefined);
      if (changed) result[verdict.outcome].push(entry);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return result;
}
