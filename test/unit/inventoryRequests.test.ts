import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  type CatalogueItems,
  DEFAULT_PRICE_CENTS,
  findInventoryItem,
  updateInventoryItem,
} from '../../shared/orders/inventoryRequests';
import type { CatalogueItem } from '../../shared/orders/inventoryStore';

/** The catalogue as a map, counting reads. */
function memoryCatalogue(items: CatalogueItem[] = []): CatalogueItems & { reads: string[] } {
  const stored = new Map(items.map((item) => [item.sku, item]));
  const reads: string[] = [];
  return {
    reads,
    getItem: (sku) => {
      reads.push(sku);
      return Promise.resolve(stored.get(sku));
    },
    setItem: (item) => {
      stored.set(item.sku, item);
      return Promise.resolve();
    },
  };
}

describe('inventory requests', () => {
  it('names a new SKU after itself at the default price unless the update says otherwise', async () => {
    const catalogue = memoryCatalogue();
    assert.deepEqual(await updateInventoryItem(catalogue, 'NEW-1', { stock: 4 }), {
      sku: 'NEW-1',
      name: 'NEW-1',
      priceCents: DEFAULT_PRICE_CENTS,
      stock: 4,
    });
    assert.deepEqual(await updateInventoryItem(catalogue, 'NEW-2', { stock: 1, name: 'Kettle', priceCents: 2500 }), {
      sku: 'NEW-2',
      name: 'Kettle',
      priceCents: 2500,
      stock: 1,
    });
  });

  it("keeps an existing SKU's name and price when the update names only the stock", async () => {
    const catalogue = memoryCatalogue([{ sku: 'MUG-1', name: 'Mug', priceCents: 1200, stock: 9 }]);
    assert.deepEqual(await updateInventoryItem(catalogue, 'MUG-1', { stock: 0 }), {
      sku: 'MUG-1',
      name: 'Mug',
      priceCents: 1200,
      stock: 0,
    });
    assert.deepEqual(await updateInventoryItem(catalogue, 'MUG-1', { stock: 3, priceCents: 1300 }), {
      sku: 'MUG-1',
      name: 'Mug',
      priceCents: 1300,
      stock: 3,
    });
  });

  it('finds a known SKU and never looks up a name that cannot be one', async () => {
    const catalogue = memoryCatalogue([{ sku: 'MUG-1', name: 'Mug', priceCents: 1200, stock: 9 }]);
    assert.equal((await findInventoryItem(catalogue, 'MUG-1'))?.name, 'Mug');
    assert.equal(await findInventoryItem(catalogue, 'TEE-M'), undefined);
    assert.equal(await findInventoryItem(catalogue, "mug-1' or 1 eq 1"), undefined);
    assert.equal(await findInventoryItem(catalogue, ''), undefined);
    assert.deepEqual(catalogue.reads, ['MUG-1', 'TEE-M']);
  });
});
