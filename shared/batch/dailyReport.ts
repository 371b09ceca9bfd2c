import type { SalesFact } from './salesFacts';

/** Partial aggregates: what a checkpoint keeps between pages, so a resumed run ends with the same report. */
export interface ReportAggregate {
  orders: number;
  succeeded: number;
  revenueCents: number;
  unitsBySku: Record<string, number>;
  revenueBySku: Record<string, number>;
  failuresByReason: Record<string, number>;
  compensationsByReason: Record<string, number>;
  cancelled: number;
}

export function emptyAggregate(): ReportAggregate {
  return {
    orders: 0,
    succeeded: 0,
    revenueCents: 0,
    unitsBySku: {},
    revenueBySku: {},
    failuresByReason: {},
    compensationsByReason: {},
    cancelled: 0,
  };
}

function add(map: Record<string, number>, key: string, amount: number): void {
  map[key] = (map[key] ?? 0) + amount;
}

/** Folds one page of facts into the aggregate (pure; the caller checkpoints the result). */
export function aggregate(into: ReportAggregate, facts: readonly SalesFact[]): ReportAggregate {
  const next: ReportAggregate = structuredClone(into);
  for (const fact of facts) {
    next.orders++;
    switch (fact.status) {
      case 'succeeded':
        next.succeeded++;
        next.revenueCents += fact.totalCents;
        for (const line of fact.lines) {
          add(next.unitsBySku, line.sku, line.quantity);
          add(next.revenueBySku, line.sku, line.quantity * line.priceCents);
        }
        break;
      case 'failed':
        add(next.failuresByReason, fact.errorCode ?? 'UNKNOWN', 1);
        break;
      case 'compensated':
        add(next.compensationsByReason, fact.errorCode ?? 'UNKNOWN', 1);
        break;
      case 'cancelled':
        next.cancelled++;
        break;
      default:
        add(next.failuresByReason, `STATUS_${fact.status.toUpperCase()}`, 1);
    }
  }
  return next;
}

function sorted(map: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The report document. Deterministic: sorted keys, no generation time, so a rerun writes identical bytes. */
export function renderReportJson(date: string, report: ReportAggregate): string {
  return `${JSON.stringify(
    {
      date,
      orders: report.orders,
      succeeded: report.succeeded,
      cancelled: report.cancelled,
      revenueCents: report.revenueCents,
      unitsBySku: sorted(report.unitsBySku),
      revenueBySku: sorted(report.revenueBySku),
      failuresByReason: sorted(report.failuresByReason),
      compensationsByReason: sorted(report.compensationsByReason),
    },
    null,
    2,
  )}\n`;
}

export function renderReportCsv(date: string, report: ReportAggregate): string {
  const rows = ['date,sku,units,revenue_cents'];
  for (const [sku, units] of Object.entries(sorted(report.unitsBySku))) {
    rows.push(`${date},${sku},${units},${report.revenueBySku[sku] ?? 0}`);
  }
  rows.push(`${date},TOTAL,${Object.values(report.unitsBySku).reduce((a, b) => a + b, 0)},${report.revenueCents}`);
  return `${rows.join('\n')}\n`;
}
