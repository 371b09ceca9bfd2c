import { randomBytes } from 'node:crypto';

import { JobCancelledError, PermanentJobError } from '../jobs/jobErrors';
import { ExportBlocksGoneError, type ExportFile } from './exportBlob';
import { blockCount, blockId, blockIds, type ExportCheckpoint, MAX_EXPORT_BLOCKS, withBlock } from './exportCheckpoint';
import { contentTypeOf, renderFooter, renderHeader, renderOrders } from './exportFormats';
import { daysOf, type ExportFormat } from './exportRequest';
import type { OrderPage, OrderPages } from './orderPages';

/** What one export covers. */
export interface ExportSpec {
  from: string;
  to: string;
  format: ExportFormat;
}

/** The written file, for the job's result. */
export interface ExportFileResult {
  format: ExportFormat;
  from: string;
  to: string;
  orders: number;
  pages: number;
  bytes: number;
  file: string;
  contentType: string;
}

export interface ExportProgress {
  /** Days of the period read completely. */
  daysDone: number;
  days: number;
  orders: number;
  pages: number;
  /** The day being read; undefined once every day is read. */
  day: string | undefined;
}

/** What saving a checkpoint found. */
export type CheckpointSave =
  | { kind: 'saved' }
  /** Another delivery of the same job saved first: this run goes on from where that one got to. */
  | { kind: 'moved'; stored: ExportCheckpoint | undefined }
  | { kind: 'cancelled' };

export interface ExportRunPorts {
  orders: OrderPages;
  file: ExportFile;
  /**
   * Stores `next` only if the stored checkpoint is still `expected` (compare and swap), with the progress it
   * makes; otherwise says what is stored now.
   */
  saveCheckpoint(
    expected: ExportCheckpoint | undefined,
    next: ExportCheckpoint,
    progress: ExportProgress,
  ): Promise<CheckpointSave>;
}

/** The export job was cancelled between two pages: the run stops, commits nothing, and the job stays cancelled. */
export const EXPORT_CANCELLED = 'EXPORT_CANCELLED';
/** More pages than one block blob can hold. */
export const EXPORT_TOO_LARGE = 'EXPORT_TOO_LARGE';

/**
 * Reads pages of the period by position (day, token), with one page read ahead. A read-ahead for another position
 * (the run moved to a concurrent delivery's checkpoint) is dropped, and its failure with it.
 */
function pageReader(orders: OrderPages, days: readonly string[]) {
  let ahead: { dayIndex: number; token: string | undefined; page: Promise<OrderPage> } | undefined;
  const fetch = (dayIndex: number, token: string | undefined) => orders.page(days[dayIndex] ?? '', token);
  return {
    prefetch(dayIndex: number, token: string | undefined): void {
      const page = fetch(dayIndex, token);
      page.catch(() => undefined); // read again (and fail there) if it is ever used
      ahead = { dayIndex, token, page };
    },
    async read(dayIndex: number, token: string | undefined): Promise<OrderPage> {
      const hit = ahead && ahead.dayIndex === dayIndex && ahead.token === token ? ahead.page : undefined;
      ahead = undefined;
      return hit ?? fetch(dayIndex, token);
    },
  };
}

/** Eight hex characters naming one run's blocks (see `BlockSegment`). */
export function newWriterId(): string {
  return randomBytes(4).toString('hex');
}

/** The footer's block id is the same for every writer, so two deliveries finishing together commit one list. */
const FOOTER_WRITER = 'zzfooter'; // not hex: never a writer id

/**
 * Writes the export: the file's header as block 0, then one block per page of orders, day by day, checkpointing
 * after every block; at the end, the footer and one commit of every block the checkpoint names. A run that starts
 * from a checkpoint (the host died, or the message was redelivered) goes on from the page after it, so the file has
 * every order once; a run that loses a checkpoint write to a concurrent delivery of the same job goes on from that
 * one's checkpoint, and its own blocks are never committed. The bytes depend only on the orders: the same period
 * gives the same file.
 */
export async function runExport(
  spec: ExportSpec,
  ports: ExportRunPorts,
  resumeFrom: ExportCheckpoint | undefined,
  writer: string = newWriterId(),
): Promise<ExportFileResult> {
  const days = daysOf(spec.from, spec.to);
  let checkpoint = resumeFrom;
  const save = async (next: ExportCheckpoint): Promise<void> => {
    const saved = await ports.saveCheckpoint(checkpoint, next, {
      daysDone: next.dayIndex,
      days: days.length,
      orders: next.orders,
      pages: next.pages,
      day: days[next.dayIndex],
    });
    switch (saved.kind) {
      case 'saved':
        checkpoint = next;
        return;
      case 'moved':
        checkpoint = saved.stored;
        return;
      case 'cancelled':
        throw new JobCancelledError(
          EXPORT_CANCELLED,
          `cancelled after ${checkpoint?.orders ?? 0} orders; no file was committed`,
        );
      default: {
        const unknown: never = saved;
        throw new Error(`unknown checkpoint outcome ${JSON.stringify(unknown)}`);
      }
    }
  };

  const reader = pageReader(ports.orders, days);
  for (let restarted = false; ; restarted = true) {
    for (;;) {
      if (!checkpoint) {
        await ports.file.stageBlock(blockId(writer, 0), renderHeader(spec.format, spec));
        await save({ dayIndex: 0, orders: 0, pages: 0, segments: withBlock([], writer) });
        continue;
      }
      if (checkpoint.dayIndex >= days.length) break;
      const current: ExportCheckpoint = checkpoint;
      const page = await reader.read(current.dayIndex, current.continuationToken);
      // The next page is read while this one is staged and checkpointed: the two round trips overlap.
      const nextDay = page.continuationToken ? current.dayIndex : current.dayIndex + 1;
      if (nextDay < days.length) reader.prefetch(nextDay, page.continuationToken);
      let segments = current.segments;
      if (page.orders.length > 0) {
        const index = blockCount(current);
        // One block stays free for the footer.
        if (index >= MAX_EXPORT_BLOCKS - 1) {
          throw new PermanentJobError(
            EXPORT_TOO_LARGE,
            `more than ${MAX_EXPORT_BLOCKS - 2} pages of orders: export a shorter period`,
          );
        }
        await ports.file.stageBlock(blockId(writer, index), renderOrders(spec.format, page.orders, current.orders));
        segments = withBlock(segments, writer);
      }
      await save({
        dayIndex: page.continuationToken ? current.dayIndex : current.dayIndex + 1,
        ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
        orders: current.orders + page.orders.length,
        pages: current.pages + (page.orders.length > 0 ? 1 : 0),
        segments,
      });
    }

    const done: ExportCheckpoint = checkpoint;
    const ids = blockIds(done);
    const footer = renderFooter(spec.format, done.orders);
    if (footer) {
      const footerId = blockId(FOOTER_WRITER, blockCount(done));
      await ports.file.stageBlock(footerId, footer);
      ids.push(footerId);
    }
    const contentType = contentTypeOf(spec.format);
    try {
      const { bytes } = await ports.file.commit(ids, contentType);
      return {
        format: spec.format,
        from: spec.from,
        to: spec.to,
        orders: done.orders,
        pages: done.pages,
        bytes,
        file: ports.file.path,
        contentType,
      };
    } catch (error) {
      // The checkpoint names staged blocks the service has discarded (a week after the last was staged: a dead
      // letter replayed later than that). Resuming from it can never commit, on any delivery or replay, so the file
      // is written again from its first page, once; the checkpoint is replaced as any is (compare and swap).
      if (!(error instanceof ExportBlocksGoneError) || restarted) throw error;
    }
    await ports.file.stageBlock(blockId(writer, 0), renderHeader(spec.format, spec));
    await save({ dayIndex: 0, orders: 0, pages: 0, segments: withBlock([], writer) });
  }
}
