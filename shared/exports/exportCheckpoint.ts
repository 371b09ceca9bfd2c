import { z } from 'zod';

/** A block blob holds at most 50,000 committed blocks; one block is written per page of orders. */
export const MAX_EXPORT_BLOCKS = 50_000;

/**
 * A run of consecutive blocks staged by one writer. Every run of the job stages blocks under its own writer id, and
 * only blocks a checkpoint names are ever committed: when two deliveries of one message run at once, the loser's
 * blocks are never part of the file, even if the storage service paged the orders differently for it.
 */
export const blockSegmentSchema = z.object({
  writer: z.string().regex(/^[0-9a-f]{8}$/),
  first: z.number().int().min(0),
  count: z.number().int().min(1),
});
export type BlockSegment = z.infer<typeof blockSegmentSchema>;

/** Where an export is: the day being read, the ledger's page token within it, and the blocks written so far. */
export const exportCheckpointSchema = z.object({
  dayIndex: z.number().int().min(0),
  continuationToken: z.string().optional(),
  orders: z.number().int().min(0),
  pages: z.number().int().min(0),
  segments: z.array(blockSegmentSchema),
});
export type ExportCheckpoint = z.infer<typeof exportCheckpointSchema>;

/** Block ids must all have one length within a blob: writer id and a zero-padded index, base64-encoded. */
export function blockId(writer: string, index: number): string {
  return Buffer.from(`${writer}-${index.toString().padStart(6, '0')}`).toString('base64');
}

export function blockCount(checkpoint: ExportCheckpoint): number {
  return checkpoint.segments.reduce((sum, segment) => sum + segment.count, 0);
}

/** The ids of every block the checkpoint names, in file order. */
export function blockIds(checkpoint: ExportCheckpoint): string[] {
  return checkpoint.segments.flatMap((segment) =>
    Array.from({ length: segment.count }, (_, i) => blockId(segment.writer, segment.first + i)),
  );
}

/** The segments after `writer` staged one more block at the next index. */
export function withBlock(segments: readonly BlockSegment[], writer: string): BlockSegment[] {
  const next = segments.reduce((sum, segment) => sum + segment.count, 0);
  const last = segments.at(-1);
  if (last && last.writer === writer && last.first + last.count === next) {
    return [...segments.slice(0, -1), { ...last, count: last.count + 1 }];
  }
  return [...segments, { writer, first: next, count: 1 }];
}
