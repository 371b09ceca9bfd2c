import type { ExportFormat } from './exportRequest';

/** One finished order as the export writes it. */
export interface ExportedOrder {
  /** The UTC day the order finished (its ledger day). */
  completedOn: string;
  orderId: string;
  status: string;
  totalCents: number;
  lines: readonly { sku: string; quantity: number; priceCents: number }[];
  errorCode?: string;
}

export const CSV_COLUMNS = ['completed_on', 'order_id', 'status', 'total_cents', 'units', 'items', 'error_code'];

export function contentTypeOf(format: ExportFormat): string {
  switch (format) {
    case 'csv':
      return 'text/csv; charset=utf-8';
    case 'json':
      return 'application/json; charset=utf-8';
    default: {
      const unknown: never = format;
      throw new Error(`unknown export format ${String(unknown)}`);
    }
  }
}

/**
 * One CSV field by RFC 4180, and safe to open in a spreadsheet: a field that a spreadsheet would read as a formula
 * (`=`, `+`, `-`, `@`, tab, carriage return first) gets a leading apostrophe (OWASP's CSV injection advice).
 */
export function csvField(value: string | number): string {
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(order: ExportedOrder): string {
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
  const items = order.lines.map((line) => `${line.sku}:${line.quantity}`).join(';');
  return [order.completedOn, order.orderId, order.status, order.totalCents, units, items, order.errorCode ?? '']
    .map(csvField)
    .join(',');
}

function jsonRow(order: ExportedOrder): string {
  // Fixed key order, no generation time: the same orders give the same bytes.
  return JSON.stringify({
    completedOn: order.completedOn,
    orderId: order.orderId,
    status: order.status,
    totalCents: order.totalCents,
    lines: order.lines.map((line) => ({ sku: line.sku, quantity: line.quantity, priceCents: line.priceCents })),
    errorCode: order.errorCode ?? null,
  });
}

/** The start of the file: the CSV header row, or the JSON document up to its `orders` array. */
export function renderHeader(format: ExportFormat, period: { from: string; to: string }): string {
  switch (format) {
    case 'csv':
      return `${CSV_COLUMNS.join(',')}\n`;
    case 'json':
      return `{"from":${JSON.stringify(period.from)},"to":${JSON.stringify(period.to)},"orders":[\n`;
    default: {
      const unknown: never = format;
      throw new Error(`unknown export format ${String(unknown)}`);
    }
  }
}

/**
 * One page of orders. JSON rows are separated by a comma at the start of every row but the file's first, so a page
 * can be written before the next one is known; `ordersBefore` is how many rows earlier pages wrote.
 */
export function renderOrders(format: ExportFormat, orders: readonly ExportedOrder[], ordersBefore: number): string {
  switch (format) {
    case 'csv':
      return orders.map((order) => `${csvRow(order)}\n`).join('');
    case 'json':
      return orders.map((order, i) => `${ordersBefore + i === 0 ? '' : ',\n'}${jsonRow(order)}`).join('');
    default: {
      const unknown: never = format;
      throw new Error(`unknown export format ${String(unknown)}`);
    }
  }
}

/** The end of the file: nothing for CSV; for JSON the array's end and the order count. */
export function renderFooter(format: ExportFormat, orders: number): string {
  switch (format) {
    case 'csv':
      return '';
    case 'json':
      return `${orders === 0 ? '' : '\n'}],"count":${orders}}\n`;
    default: {
      const unknown: never = format;
      throw new Error(`unknown export format ${String(unknown)}`);
    }
  }
}
