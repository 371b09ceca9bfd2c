import { randomBytes } from 'node:crypto';

import type { ExportFile } from './exportBlob';
import { blockCount, blockId, blockIds, type ExportCheckpoint, MAX_EXPORT_BLOCKS, withBlock } from './exportCheckpoint';
import { ExportError } from './exportErrors';
import { contentTypeOf, renderFooter, renderHeader, renderOrders } from './exportFormats';
import { daysOf, type ExportFormat } from './exportRequest';
import type { OrderPages } from './orderPages';

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
  /** The day being read. */
  day: string | undefined;
}

export interface ExportRunPorts {
  orders: OrderPages;
  file: ExportFile;
  /**
   * Stores `next` if the stored checkpoint is still `expected` (compare and swap) and reports progress with it.
   * `superseded`: another delivery of the job moved the checkpoint on, this run must stop without writing more;
   * `cancelled`: the job was cancelled.
   */
  saveCheckpoint(
    expected: ExportCheckpoint | undefined,
    next: ExportCheckpoint,
    progress: ExportProgress,
  ): Promise<'saved' | 'superseded' | 'cancelled'>;
  /** A line for the host's log. */
  log?: (line: string) => void;
}

export type ExportOutcome =
  | { kind: 'completed'; result: ExportFileResult; resumedFrom?: ExportCheckpoint }
  | { kind: 'superseded' }
  | { kind: 'cancelled' };

/** Eight hex characters naming one run's blocks (see `BlockSegment`). */
export function newWriterId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Writes the export: the file's header as block 0, then one block per page of orders, day by day, checkpointing
 * after every block; at the end, the footer and one commit of every block the checkpoint names. A run that starts
 * from a checkpoint (the host died, or the message was redelivered) goes on from the page after it, so the file has
 * every order once. The bytes depend only on the orders: the same period gives the same file.
 */
export async function runExport(
  spec: ExportSpec,
  ports: ExportRunPorts,
  resumeFrom: ExportCheckpoint | undefined,
  writer: string = newWriterId(),
): Promise<ExportOutcome> {
  const days = daysOf(spec.from, spec.to);
  const progressOf = (checkpoint: ExportCheckpoint): ExportProgress => ({
    daysDone: checkpoint.dayIndex,
    days: days.length,
    orders: checkpoint.orders,
    pages: checkpoint.pages,
    day: days[checkpoint.dayIndex],
  });
  const advance = async (expected: ExportCheckpoint | undefined, next: ExportCheckpoint) => {
    const saved = await ports.saveCheckpoint(expected, next, progressOf(next));
    return saved === 'saved' ? undefined : ({ kind: saved } as const);
  };

  let checkpoint: ExportCheckpoint;
  if (resumeFrom) {
    checkpoint = resumeFrom;
    ports.log?.(`export resumes at day ${checkpoint.dayIndex + 1} of ${days.length} after ${checkpoint.orders} orders`);
  } else {
    await ports.file.stageBlock(blockId(writer, 0), renderHeader(spec.format, spec));
    const first: ExportCheckpoint = { dayIndex: 0, orders: 0, pages: 0, segments: withBlock([], writer) };
    const stopped = await advance(undefined, first);
    if (stopped) return stopped;
    checkpoint = first;
  }

  while (checkpoint.dayIndex < days.length) {
    const day = days[checkpoint.dayIndex] ?? '';
    const page = await ports.orders.page(day, checkpoint.continuationToken);
    let segments = checkpoint.segments;
    if (page.orders.length > 0) {
      const index = blockCount(checkpoint);
      // One block stays free for the footer.
      if (index >= MAX_EXPORT_BLOCKS - 1) {
        throw new ExportError(
          'EXPORT_TOO_LARGE',
          `more than ${MAX_EXPORT_BLOCKS - 2} pages of orders: export a shorter period`,
        );
      }
      await ports.file.stageBlock(blockId(writer, index), renderOrders(spec.format, page.orders, checkpoint.orders));
      segments = withBlock(segments, writer);
    }
    const next: ExportCheckpoint = {
      dayIndex: page.continuationToken ? checkpoint.dayIndex : checkpoint.dayIndex + 1,
      ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
      orders: checkpoint.orders + page.orders.length,
      pages: checkpoint.pages + (page.orders.length > 0 ? 1 : 0),
      segments,
    };
    const stopped = await advance(checkpoint, next);
    if (stopped) return stopped;
    checkpoint = next;
  }

  const ids = blockIds(checkpoint);
  const footer = renderFooter(spec.format, checkpoint.orders);
  if (footer) {
    // The footer is staged by whoever commits, under its own writer id: it is never named by a checkpoint.
    const footerId = blockId(writer, blockCount(checkpoint));
    await ports.file.stageBlock(footerId, footer);
    ids.push(footerId);
  }
  const contentType = contentTypeOf(spec.format);
  const { bytes } = await ports.file.commit(ids, contentType);
  return {
    kind: 'completed',
    result: {
      format: spec.format,
      from: spec.from,
      to: spec.to,
      orders: checkpoint.orders,
      pages: checkpoint.pages,
      bytes,
      file: ports.file.path,
      contentType,
    },
    ...(resumeFrom ? { resumedFrom: resumeFrom } : {}),
  };
}
