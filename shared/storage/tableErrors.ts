import type { TableClient } from '@azure/data-tables';

/** The HTTP status of a storage SDK error, or undefined for network errors (refused, reset, timed out). */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** Creates the table unless it exists (a 409 from a concurrent or earlier creation is success). */
export async function ensureTable(table: TableClient): Promise<void> {
  try {
    await table.createTable();
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
}
