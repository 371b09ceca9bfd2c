import { z } from 'zod';

import type { CatalogueItem } from './inventoryStore';
import { plainText } from './orderRequest';

/** The price a new SKU gets when its first update names none, in cents. */
export const DEFAULT_PRICE_CENTS = 1000;

/** A SKU in a route: upper case, as the catalogue keys them. */
export const skuSchema = z.string().regex(/^[A-Z0-9][A-Z0-9-]{0,31}$/, 'must be an upper-case SKU such as SKU-1');

/** The body of `PUT /api/inventory/{sku}`: the stock, and optionally a new name and price. */
export const inventoryUpdateSchema = z
  .object({
    stock: z.number().int().min(0).max(1_000_000),
    name: plainText(1, 200).optional(),
    priceCents: z.number().int().min(0).max(100_000_000).optional(),
  })
  .strict();
export type InventoryUpdate = z.infer<typeof inventoryUpdateSchema>;

/** The catalogue as the inventory requests use it (`InventoryStore`). */
export interface CatalogueItems {
  getItem(sku: string): Promise<CatalogueItem | undefined>;
  setItem(item: CatalogueItem): Promise<void>;
}

/**
 * Sets a SKU's stock (an operator's count). Name and price keep their current values unless the update names them;
 * a new SKU is named after itself and priced at {@link DEFAULT_PRICE_CENTS}. Returns the item as stored.
 */
export async function updateInventoryItem(
  catalogue: CatalogueItems,
  sku: string,
  update: InventoryUpdate,
): Promise<CatalogueItem | undefined> {
  const existing = await catalogue.getItem(sku);
  await catalogue.setItem({
    sku,
    stock: update.stock,
    name: update.name ?? existing?.name ?? sku,
    priceCents: update.priceCents ?? existing?.priceCents ?? DEFAULT_PRICE_CENTS,
  });
  return catalogue.getItem(sku);
}

/** A SKU's catalogue entry; undefined for an unknown SKU or a name that cannot be one (never looked up). */
export async function findInventoryItem(catalogue: CatalogueItems, sku: string): Promise<CatalogueItem | undefined> {
  return skuSchema.safeParse(sku).success ? catalogue.getItem(sku) : undefined;
}
