import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { InventoryStore, OutOfStockError } from '../../shared/orders/inventoryStore';
import { storageClients, uniqueName } from '../support/storage';

describe('inventory reservations (Table Storage), many at once on one SKU', () => {
  let inventory: InventoryStore;

  before(async () => {
    inventory = new InventoryStore(storageClients().table(uniqueName('inventory')));
    await inventory.ensureTable();
  });

  it('reserves exactly the stock there is: the rest are out of stock, nothing is decremented twice', async () => {
    await inventory.setItem({ sku: 'HOT-1', name: 'Hot', priceCents: 100, stock: 20 });
    const orders = Array.from({ length: 30 }, (_, i) => `ord_hot${i.toString().padStart(2, '0')}`);
    const outcomes = await Promise.allSettled(
      orders.map((orderId) => inventory.reserve(orderId, [{ sku: 'HOT-1', quantity: 1 }])),
    );
    const reserved = orders.filter((_, i) => outcomes[i]?.status === 'fulfilled');
    const refused: unknown[] = [];
    for (const outcome of outcomes) if (outcome.status === 'rejected') refused.push(outcome.reason);
    assert.equal(reserved.length, 20);
    assert.equal(refused.length, 10);
    for (const reason of refused) assert.ok(reason instanceof OutOfStockError, String(reason));
    assert.equal((await inventory.getItem('HOT-1'))?.stock, 0);

    // Duplicate deliveries, concurrently and twice each in the same group: no second decrement, no refusal.
    await inventory.setItem({ sku: 'HOT-1', name: 'Hot', priceCents: 100, stock: 5 });
    const repeats = [...reserved.slice(0, 6), ...reserved.slice(0, 6)];
    await Promise.all(repeats.map((orderId) => inventory.reserve(orderId, [{ sku: 'HOT-1', quantity: 1 }])));
    assert.equal((await inventory.getItem('HOT-1'))?.stock, 5, 'repeats change nothing');
    const rows = await inventory.reservationsOf(reserved[0] ?? '', ['HOT-1']);
    assert.deepEqual(rows, [{ sku: 'HOT-1', quantity: 1, state: 'reserved' }]);
  });

  it('a group with new orders and a repeat reserves the new ones once', async () => {
    await inventory.setItem({ sku: 'HOT-2', name: 'Hot', priceCents: 100, stock: 10 });
    await inventory.reserve('ord_first', [{ sku: 'HOT-2', quantity: 2 }]);
    const fresh = ['ord_a', 'ord_b', 'ord_c'];
    await Promise.all([
      ...fresh.map((orderId) => inventory.reserve(orderId, [{ sku: 'HOT-2', quantity: 1 }])),
      inventory.reserve('ord_first', [{ sku: 'HOT-2', quantity: 2 }]),
    ]);
    assert.equal((await inventory.getItem('HOT-2'))?.stock, 10 - 2 - 3);
    await inventory.release('ord_a', [{ sku: 'HOT-2', quantity: 1 }]);
    assert.equal((await inventory.getItem('HOT-2'))?.stock, 6);
  });
});
