import { odata, type TableClient } from '@azure/data-tables';

import type { JobStore } from '../jobs/jobStore';
import type { InventoryStore } from '../orders/inventoryStore';

/** A reservation held for an order that no longer needs it. */
export interface OrphanedReservation {
  sku: string;
  orderKey: string;
  quantity: number;
  reason: string;
}

/**
 * Finds stock reservations with no live order (the order is gone, ended without succeeding, or was restarted under
 * a new generation) and releases them. Release is idempotent, so a resumed run repeats nothing.
 */
export async function releaseOrphanedReservations(
  inventoryTable: TableClient,
  inventory: InventoryStore,
  jobs: JobStore,
): Promise<OrphanedReservation[]> {
  const released: OrphanedReservation[] = [];
  let rows;
  try {
    rows = inventoryTable.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`RowKey ge ${'res-'} and RowKey lt ${'res.'} and state eq ${'reserved'}` },
    });
    for await (const row of rows) {
      const sku = String(row.partitionKey);
      const orderKey = String(row.rowKey).slice('res-'.length);
      const [jobId = '', generationText] = orderKey.split('.');
      const generation = Number(generationText ?? 0);
      const job = await jobs.get(jobId);
      let reason: string | undefined;
      if (!job) reason = 'the order no longer exists';
      else if (Number(job.data['generation'] ?? 0) !== generation) reason = 'the order was restarted';
      else if (['failed', 'compensated', 'cancelled'].includes(job.status)) reason = `the order is ${job.status}`;
      if (!reason) continue;
      const quantity = Number(row['quantity'] ?? 0);
      await inventory.release(orderKey, [{ sku, quantity }]);
      released.push({ sku, orderKey, quantity, reason });
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return released;
}
