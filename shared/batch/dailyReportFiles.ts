import type { ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';

/** The reports container's folder of daily reports: `daily/{date}.json` and `daily/{date}.csv`. */
const DAILY_PREFIX = 'daily/';
/** `{date}.json` or `{date}.csv`, the only names a report file request may ask for. */
const REPORT_FILE = /^(\d{4}-\d{2}-\d{2})\.(json|csv)$/;
/** Days of revenue listed when the caller does not say, and the most it may ask for. */
export const DEFAULT_REPORT_DAYS = 14;
export const MAX_REPORT_DAYS = 366;

/** The report blobs, as small functions (the reports container in production, a map in the unit tests). */
export interface ReportBlobs {
  /** Names of the blobs under `prefix`; none when the container does not exist yet. */
  list(prefix: string): Promise<string[]>;
  /** A blob's bytes, or undefined when it does not exist. */
  read(name: string): Promise<Buffer | undefined>;
}

/** One night's revenue as the dashboard lists it. */
export interface DailyRevenue {
  date: string;
  orders: number;
  succeeded: number;
  revenueCents: number;
}

export type ReportFile =
  | { outcome: 'found'; format: 'json' | 'csv'; body: Buffer }
  /** Not a report's file name: nothing was read. */
  | { outcome: 'not-a-report' }
  | { outcome: 'missing'; date: string };

/** The `days` query parameter: a whole number from 1 to {@link MAX_REPORT_DAYS}, else undefined. */
export function reportDays(raw: string | null): number | undefined {
  const days = Number(raw ?? String(DEFAULT_REPORT_DAYS));
  return Number.isInteger(days) && days >= 1 && days <= MAX_REPORT_DAYS ? days : undefined;
}

/** The revenue of the latest `days` reports written, oldest first. */
export async function recentDailyRevenue(reports: ReportBlobs, days: number): Promise<DailyRevenue[]> {
  const names = (await reports.list(DAILY_PREFIX)).filter((name) => name.endsWith('.json'));
  const recent = names.sort().slice(-days);
  const read = await Promise.all(
    recent.map(async (name): Promise<DailyRevenue | undefined> => {
      const body = await reports.read(name);
      if (!body) return undefined; // purged by retention since it was listed
      const doc = JSON.parse(body.toString('utf8')) as DailyRevenue;
      return { date: doc.date, orders: doc.orders, succeeded: doc.succeeded, revenueCents: doc.revenueCents };
    }),
  );
  return read.filter((day) => day !== undefined);
}

/** A report file by its name (`2026-11-24.csv`); names that are not a report's are never looked up. */
export async function readReportFile(reports: ReportBlobs, file: string): Promise<ReportFile> {
  const match = REPORT_FILE.exec(file);
  if (!match) return { outcome: 'not-a-report' };
  const body = await reports.read(`${DAILY_PREFIX}${file}`);
  if (!body) return { outcome: 'missing', date: match[1] ?? '' };
  return { outcome: 'found', format: match[2] === 'json' ? 'json' : 'csv', body };
}

/** {@link ReportBlobs} on the reports container. */
export function containerReportBlobs(container: ContainerClient): ReportBlobs {
  return {
    list: async (prefix) => {
      const names: string[] = [];
      try {
        for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      return names;
    },
    read: async (name) => {
      try {
        return await container.getBlobClient(name).downloadToBuffer();
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    },
  };
}
