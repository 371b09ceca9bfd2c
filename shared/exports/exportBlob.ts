import type { ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import type { ExportFormat } from './exportRequest';

/**
 * A commit named blocks the service no longer has: uncommitted blocks are discarded a week after the last one was
 * staged (a checkpoint resumed later than that, by a replay of the job's dead letter, names blocks that are gone).
 */
export class ExportBlocksGoneError extends Error {
  override readonly name = 'ExportBlocksGoneError';
  readonly code = 'EXPORT_BLOCKS_GONE';
}

/** What the export job needs of the file it writes: stage blocks one by one, commit them at the end. */
export interface ExportFile {
  /** `{container}/{blob}`, for the job's result. */
  readonly path: string;
  /** Uploads one block; staging the same id again replaces it (nothing is visible until the commit). */
  stageBlock(id: string, content: string): Promise<void>;
  /** Makes the file the named blocks, in order; returns its size in bytes. Throws ExportBlocksGoneError when the
   * blocks are not all there. */
  commit(ids: readonly string[], contentType: string): Promise<{ bytes: number }>;
}

/** `exports/{jobId}.{csv|json}` */
export function exportBlobName(jobId: string, format: ExportFormat): string {
  return `${jobId}.${format}`;
}

/**
 * The export file as a block blob. Staged blocks survive a crash of the writer (for seven days, uncommitted), so a
 * resumed run stages only the pages after its checkpoint and commits the whole list once.
 */
export function exportFile(container: ContainerClient, jobId: string, format: ExportFormat): ExportFile {
  const name = exportBlobName(jobId, format);
  const blob = container.getBlockBlobClient(name);
  return {
    path: `${container.containerName}/${name}`,
    async stageBlock(id, content) {
      const bytes = Buffer.from(content, 'utf8');
      await blob.stageBlock(id, bytes, bytes.length);
    },
    async commit(ids, contentType) {
      try {
        await blob.commitBlockList([...ids], {
          blobHTTPHeaders: {
            blobContentType: contentType,
            blobContentDisposition: `attachment; filename="${name}"`,
          },
          metadata: { jobid: jobId },
        });
      } catch (error) {
        if (statusOf(error) === 400 && (error as { code?: string }).code === 'InvalidBlockList') {
          throw new ExportBlocksGoneError(`${name}: the staged blocks the checkpoint names are gone`, { cause: error });
        }
        throw error;
      }
      const properties = await blob.getProperties();
      return { bytes: properties.contentLength ?? 0 };
    },
  };
}
