import { randomBytes } from 'node:crypto';

import { odata, type TableClient } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';
import type { ReportAggregate } from './dailyReport';

export type BatchPhase = 'report' | 'retention' | 'consistency' | 'done';

/** Where a run is, so a killed run resumes from its last page with the same partial results. */
export interface BatchCheckpoint {
  phase: BatchPhase;
  continuationToken?: string;
  aggregate: ReportAggregate;
  itemsDone: number;
  findings: Record<string, number>;
  /**
   * How long the run took, in milliseconds: written with the `succeeded` state, so the job's result can be written
   * from the record alone when the host that ran it died before ending the job (see `runNightly`).
   */
  durationMs?: number;
}

export interface BatchRun {
  date: string;
  state: 'running' | 'succeeded' | 'failed';
  jobId: string;
  owner: string;
  heartbeatAt: string;
  attempt: number;
  checkpoint: BatchCheckpoint;
  etag: string;
}

export type ClaimOutcome =
  | { kind: 'claimed'; run: BatchRun; resumed: boolean }
  | { kind: 'in-flight'; run: BatchRun }
  | { kind: 'completed'; run: BatchRun };

/** Lost the run: someone else claimed it (our lease lapsed). Stop at once, without writing. */
export class BatchRunLostError extends Error {
  override readonly name = 'BatchRunLostError';
  readonly code = 'BATCH_RUN_LOST';
}

const PARTITION = 'nightly';

function fromEntity(row: Record<string, unknown> & { etag: string }): BatchRun {
  return {
    date: String(row['rowKey']),
    state: row['state'] as BatchRun['state'],
    jobId: String(row['jobId']),
    owner: String(row['owner']),
    heartbeatAt: String(row['heartbeatAt']),
    attempt: Number(row['attempt'] ?? 1),
    checkpoint: JSON.parse(String(row['checkpoint'])) as BatchCheckpoint,
    etag: row.etag,
  };
}

/**
 * Per-date run records: the claim that makes a scheduled run, a caught-up run and a manual run of the same date do
 * the work once. A claim is a conditional insert; a running record whose heartbeat is older than the lease is
 * taken over with an ETag-conditional update (its owner died), and the new owner resumes from its checkpoint.
 */
export class BatchRunStore {
  readonly owner = randomBytes(6).toString('hex');

  constructor(
    private readonly table: TableClient,
    private readonly leaseMs: number,
  ) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async get(date: string): Promise<BatchRun | undefined> {
    try {
      return fromEntity(await this.table.getEntity<Record<string, unknown>>(PARTITION, date));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The newest date whose run succeeded (dates sort as text), or undefined. */
  async lastSucceededDate(): Promise<string | undefined> {
    let last: string | undefined;
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${PARTITION} and state eq ${'succeeded'}`, select: ['RowKey'] },
      })) {
        const date = String(row.rowKey);
        if (!last || date > last) last = date;
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return last;
  }

  isStale(run: BatchRun, now = Date.now()): boolean {
    return run.state === 'running' && now > this.leaseLapsesAt(run);
  }

  /** When a running record's lease lapses unless its owner saves again (epoch milliseconds). */
  leaseLapsesAt(run: BatchRun): number {
    return Date.parse(run.heartbeatAt) + this.leaseMs;
  }

  async claim(date: string, jobId: string, initial: BatchCheckpoint, force: boolean): Promise<ClaimOutcome> {
    const now = new Date().toISOString();
    try {
      await this.table.createEntity({
        partitionKey: PARTITION,
        rowKey: date,
        state: 'running',
        jobId,
        owner: this.owner,
        heartbeatAt: now,
        attempt: 1,
        checkpoint: JSON.stringify(initial),
      });
      const run = await this.get(date);
      if (!run) throw new Error(`run record for ${date} vanished`);
      return { kind: 'claimed', run, resumed: false };
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    const existing = await this.get(date);
    if (!existing) return this.claim(date, jobId, initial, force);
    if (existing.state === 'running' && !this.isStale(existing)) return { kind: 'in-flight', run: existing };
    if (existing.state === 'succeeded' && !force) return { kind: 'completed', run: existing };
    // Take over: a dead or failed run resumes from its checkpoint; a forced rerun of a finished one starts afresh.
    const resumed = existing.state !== 'succeeded';
    const checkpoint = resumed ? existing.checkpoint : initial;
    try {
      await this.table.updateEntity(
        {
          partitionKey: PARTITION,
          rowKey: date,
          state: 'running',
          jobId: existing.jobId,
          owner: this.owner,
          heartbeatAt: now,
          attempt: existing.attempt + 1,
          checkpoint: JSON.stringify(checkpoint),
        },
        'Replace',
        { etag: existing.etag },
      );
    } catch (error) {
      if (statusOf(error) === 412) {
        const current = await this.get(date);
        return current?.state === 'succeeded'
          ? { kind: 'completed', run: current }
          : { kind: 'in-flight', run: current ?? existing };
      }
      throw error;
    }
    const run = await this.get(date);
    if (!run) throw new Error(`run record for ${date} vanished`);
    return { kind: 'claimed', run, resumed };
  }

  /** Saves progress and renews the lease; throws BatchRunLostError when another owner took the run. */
  async checkpoint(
    run: BatchRun,
    checkpoint: BatchCheckpoint,
    state: BatchRun['state'] = 'running',
  ): Promise<BatchRun> {
    const heartbeatAt = new Date().toISOString();
    try {
      const response = await this.table.updateEntity(
        {
          partitionKey: PARTITION,
          rowKey: run.date,
          state,
          jobId: run.jobId,
          owner: this.owner,
          heartbeatAt,
          attempt: run.attempt,
          checkpoint: JSON.stringify(checkpoint),
        },
        'Replace',
        { etag: run.etag },
      );
      return { ...run, state, heartbeatAt, checkpoint, etag: response.etag ?? run.etag };
    } catch (error) {
      if (statusOf(error) === 412)
        throw new BatchRunLostError(`the run for ${run.date} was taken over by another instance`);
      throw error;
    }
  }
}
