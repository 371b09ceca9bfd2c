import type { SalesFacts } from '../batch/salesFacts';
import type { ExportedOrder } from './exportFormats';

/** One page of the orders that finished on one UTC day, and the token for the next page (none: the day is done). */
export interface OrderPage {
  orders: ExportedOrder[];
  continuationToken?: string;
}

/** Where the export reads orders from, one UTC day at a time, page by page. */
export interface OrderPages {
  page(day: string, continuationToken?: string): Promise<OrderPage>;
}

/**
 * The sales ledger as the export's source: every finished order sits once under the UTC day it (last) finished, so a
 * closed day reads the same every time, unless one of its orders is reopened and ends again on a later day (its fact
 * moves there). Only the ledger's own verbs are used, never its partition layout, and its continuation token is kept
 * opaque in the export's checkpoint.
 */
export function ledgerOrderPages(ledger: Pick<SalesFacts, 'page'>): OrderPages {
  return {
    async page(day, continuationToken) {
      const page = await ledger.page(day, continuationToken);
      return {
        orders: page.facts.map((fact) => ({
          completedOn: day,
          orderId: fact.orderId,
          status: fact.status,
          totalCents: fact.totalCents,
          lines: fact.lines,
          ...(fact.errorCode ? { errorCode: fact.errorCode } : {}),
        })),
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      };
    },
  };
}
