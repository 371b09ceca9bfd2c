import type { ContainerClient } from '@azure/storage-blob';

import type { HostLogger } from '../log';
import type { Schedule } from './schedule';

/** `ScheduleStatus` as the host stores it; `Last` is the .NET default date until the first run. */
export interface ScheduleStatus {
  last: Date | undefined;
  next: Date;
  lastUpdated: Date | undefined;
}

const DEFAULT_DATE_JSON = '0001-01-01T00:00:00';

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value.startsWith('0001-01-01')) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function json(date: Date | undefined): string {
  return date ? date.toISOString() : DEFAULT_DATE_JSON;
}

/** The payload shape the Node library camel-cases into `Timer.scheduleStatus`. */
export function statusPayload(status: ScheduleStatus): { Last: string; Next: string; LastUpdated: string } {
  return { Last: json(status.last), Next: json(status.next), LastUpdated: json(status.lastUpdated) };
}

/**
 * The storage schedule monitor (`StorageScheduleMonitor`): the status blob
 * `azure-webjobs-hosts/timers/{hostId}/Host.Functions.{Name}/status` remembers the last and next occurrence, so a
 * host that starts after an occurrence was due knows it is past due. Writes are best effort, as in the host.
 */
export class ScheduleMonitor {
  constructor(
    private readonly hostContainer: ContainerClient,
    private readonly hostId: string,
    private readonly logger: HostLogger,
  ) {}

  #blob(functionName: string) {
    return this.hostContainer.getBlockBlobClient(`timers/${this.hostId}/Host.Functions.${functionName}/status`);
  }

  async read(functionName: string): Promise<ScheduleStatus | undefined> {
    try {
      const text = (await this.#blob(functionName).downloadToBuffer()).toString('utf8');
      const doc = JSON.parse(text) as Record<string, unknown>;
      const next = parseDate(doc['Next']);
      if (!next) return undefined;
      return { last: parseDate(doc['Last']), next, lastUpdated: parseDate(doc['LastUpdated']) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      if (error instanceof SyntaxError) {
        this.logger.warn(`The schedule status of '${functionName}' is not valid JSON; starting afresh.`);
        return undefined;
      }
      throw error;
    }
  }

  async write(functionName: string, status: ScheduleStatus): Promise<void> {
    const body = JSON.stringify(statusPayload(status));
    const blob = this.#blob(functionName);
    try {
      await blob.upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
    } catch (error) {
      let failure = error;
      if ((error as { statusCode?: number }).statusCode === 404) {
        try {
          await this.hostContainer.createIfNotExists();
          await blob.upload(body, Buffer.byteLength(body));
          return;
        } catch (retryError) {
          failure = retryError;
        }
      }
      this.logger.warn(
        `Writing the schedule status of '${functionName}' failed: ${(failure as Error).message.split('\n')[0] ?? ''}`,
      );
    }
  }

  /**
   * Whether the recorded next occurrence has passed, after correcting a status written for a different schedule
   * (`ScheduleMonitor.CheckPastDueAsync`). Returns the status to continue from.
   */
  async checkPastDue(
    functionName: string,
    now: Date,
    schedule: Schedule,
  ): Promise<{ pastDue: boolean; status: ScheduleStatus }> {
    let status = await this.read(functionName);
    if (!status) {
      status = { last: undefined, next: schedule.nextAfter(now), lastUpdated: now };
      await this.write(functionName, status);
      return { pastDue: false, status };
    }
    const expected = schedule.nextAfter(status.last ?? status.lastUpdated ?? now);
    if (expected.getTime() !== status.next.getTime()) {
      // The schedule changed since the status was written: measure from now, not from the old schedule.
      const corrected = now > expected ? schedule.nextAfter(now) : expected;
      const lastUpdated = now > expected ? now : status.lastUpdated;
      status = { last: undefined, next: corrected, lastUpdated };
      await this.write(functionName, status);
      // The corrected next occurrence is never behind now, so a changed schedule is not past due.
      return { pastDue: false, status };
    }
    return { pastDue: now > status.next, status };
  }
}
