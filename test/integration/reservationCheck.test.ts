import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { TableClient } from '@azure/data-tables';

import { reconcileReservations } from '../../shared/batch/consistencyCheck';
import { JobStore } from '../../shared/jobs/jobStore';
import type { JobStatus } from '../../shared/jobs/jobTypes';
import { InventoryStore } from '../../shared/orders/inventoryStore';
import { ORDER_JOB_TYPE } from '../../shared/workflow/orderModel';
import { storageClients, uniqueName } from '../support/storage';

const DAY_MS = 86_400_000;
const NIGHTLY = { jobRetentionMs: 30 * DAY_MS };

/** The job store on Azurite, counting the jobs the check reads. */
function countingJobs(store: JobStore): { jobs: JobStore; reads: string[] } {
  const reads: string[] = [];
  const jobs = new Proxy(store, {
    get(target, property) {
      if (property === 'get')
        return (id: string) => {
          reads.push(id);
          return target.get(id);
        };
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { jobs, reads };
}

describe('nightly reservation check (Table Storage): a succeeded order keeps its stock for good', () => {
  let table: TableClient;
  let inventory: InventoryStore;
  let store: JobStore;

  before(async () => {
    const clients = storageClients();
    table = clients.table(uniqueName('inventory'));
    inventory = new InventoryStore(table);
    await inventory.ensureTable();
    store = new JobStore(clients.table(uniqueName('jobs')));
    await store.ensureTable();
  });

  async function order(status: JobStatus): Promise<string> {
    const id = JobStore.newJobId('ord');
    await store.create({ id, type: ORDER_JOB_TYPE, status, data: { generation: 0 } });
    return id;
  }

  it('marks a succeeded order consumed once; after retention deletes the order the stock stays shipped', async () => {
    await inventory.setItem({ sku: 'CONS-1', name: 'Consumed', priceCents: 100, stock: 10 });
    await inventory.setItem({ sku: 'CONS-2', name: 'Consumed', priceCents: 100, stock: 10 });
    const shipped = await order('succeeded');
    const lines = [
      { sku: 'CONS-1', quantity: 3 },
      { sku: 'CONS-2', quantity: 2 },
    ];
    await inventory.reserve(shipped, lines);
    const running = await order('running');
    await inventory.reserve(running, [{ sku: 'CONS-1', quantity: 1 }]);

    const first = countingJobs(store);
    const firstCheck = await reconcileReservations(table, inventory, first.jobs, { ...NIGHTLY, now: new Date() });
    assert.deepEqual(
      firstCheck.consumed.map((reservation) => reservation.orderKey),
      [shipped, shipped],
    );
    assert.deepEqual(firstCheck.released, []);
    assert.deepEqual(
      await inventory.reservationsOf(shipped, ['CONS-1', 'CONS-2']),
      lines.map((line) => ({ ...line, state: 'consumed' })),
      'the shipped stock is marked consumed',
    );
    assert.deepEqual(await inventory.reservationsOf(running, ['CONS-1']), [
      { sku: 'CONS-1', quantity: 1, state: 'reserved' },
    ]);
    assert.equal((await inventory.getItem('CONS-1'))?.stock, 6, 'stock unchanged');
    assert.equal((await inventory.getItem('CONS-2'))?.stock, 8, 'stock unchanged');
    assert.equal(first.reads.filter((id) => id === shipped).length, 1, 'one read per order, not per line');

    // Retention deletes the order's job; the check runs again, and again.
    await store.delete(shipped);
    for (let night = 0; night < 2; night++) {
      const later = countingJobs(store);
      const check = await reconcileReservations(table, inventory, later.jobs, { ...NIGHTLY, now: new Date() });
      assert.deepEqual(check, { released: [], consumed: [], takenAsShipped: [] });
      assert.deepEqual(later.reads, [running], 'only reservations still reserved are examined');
    }
    assert.equal((await inventory.getItem('CONS-1'))?.stock, 6, 'the shipped stock does not come back');
    assert.equal((await inventory.getItem('CONS-2'))?.stock, 8, 'the shipped stock does not come back');
    assert.deepEqual(
      await inventory.reservationsOf(shipped, ['CONS-1', 'CONS-2']),
      lines.map((line) => ({ ...line, state: 'consumed' })),
    );
  });

  it('still releases the stock of an order that ended without succeeding, or was never kept', async () => {
    await inventory.setItem({ sku: 'REL-1', name: 'Released', priceCents: 100, stock: 10 });
    const failed = await order('failed');
    const compensated = await order('compensated');
    const cancelled = await order('cancelled');
    for (const id of [failed, compensated, cancelled]) await inventory.reserve(id, [{ sku: 'REL-1', quantity: 2 }]);
    await inventory.reserve('ord_neverkept', [{ sku: 'REL-1', quantity: 1 }]);
    assert.equal((await inventory.getItem('REL-1'))?.stock, 3);

    const { released } = await reconcileReservations(table, inventory, store, { ...NIGHTLY, now: new Date() });
    assert.equal((await inventory.getItem('REL-1'))?.stock, 10);
    assert.deepEqual(
      released.map((orphan) => orphan.orderKey).sort(),
      [failed, compensated, cancelled, 'ord_neverkept'].sort(),
    );
  });

  it('treats a reservation older than retention whose order is gone (deleted before this check) as consumed', async () => {
    await inventory.setItem({ sku: 'OLD-1', name: 'Old', priceCents: 100, stock: 10 });
    await inventory.reserve('ord_shippedlongago', [{ sku: 'OLD-1', quantity: 4 }]);
    // A reservation taken 40 days ago whose order retention deleted before the check learnt to mark it consumed.
    await table.upsertEntity(
      {
        partitionKey: 'OLD-1',
        rowKey: 'res-ord_shippedlongago',
        reservedAt: new Date(Date.now() - 40 * DAY_MS).toISOString(),
      },
      'Merge',
    );

    const check = await reconcileReservations(table, inventory, store, { ...NIGHTLY, now: new Date() });
    assert.deepEqual(check.released, []);
    assert.deepEqual(
      check.takenAsShipped.map((reservation) => reservation.orderKey),
      ['ord_shippedlongago'],
    );
    assert.equal((await inventory.getItem('OLD-1'))?.stock, 6, 'not put back: it most likely shipped');
    assert.deepEqual(await inventory.reservationsOf('ord_shippedlongago', ['OLD-1']), [
      { sku: 'OLD-1', quantity: 4, state: 'consumed' },
    ]);
  });
});
