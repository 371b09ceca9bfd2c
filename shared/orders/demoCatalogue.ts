import type { CatalogueItem, InventoryStore } from './inventoryStore';

/** A small catalogue so `npm start` has something to order. */
export const DEMO_CATALOGUE: readonly CatalogueItem[] = [
  { sku: 'MUG-1', name: 'Enamel mug', priceCents: 1200, stock: 100 },
  { sku: 'TEE-M', name: 'T-shirt, medium', priceCents: 2500, stock: 50 },
  { sku: 'CAP-1', name: 'Baseball cap', priceCents: 1800, stock: 30 },
  { sku: 'BAG-1', name: 'Tote bag', priceCents: 1500, stock: 5 },
];

/** Seeds the demo catalogue once: only when the inventory holds no item at all. */
export async function seedDemoCatalogue(inventory: InventoryStore): Promise<boolean> {
  if (!(await inventory.isEmpty())) return false;
  for (const item of DEMO_CATALOGUE) await inventory.setItem(item);
  return true;
}
