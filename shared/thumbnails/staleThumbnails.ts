import type { ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import { possibleThumbnailPaths } from './thumbnailNames';

/** The thumbnail metadata that names the upload version it was made from (ETag without quotes). */
export const SOURCE_ETAG_METADATA = 'sourceetag';
/** The thumbnail metadata that names the upload it was made from (URI-encoded: metadata is ASCII only). */
export const SOURCE_NAME_METADATA = 'source';

export function bareEtag(etag: string): string {
  return etag.replace(/"/g, '');
}

/**
 * Deletes the thumbnails of `uploadName` at every width, except those made from the version `keepEtag` (when given).
 * Used when a newer version of the name fails (its old thumbnails would otherwise be served as current) and when the
 * upload is gone. Each delete is conditional on the thumbnail not having changed since it was read, so a thumbnail a
 * concurrent newer version just wrote is never removed. Returns the paths deleted.
 */
export async function removeStaleThumbnails(
  thumbnails: ContainerClient,
  widths: readonly number[],
  uploadName: string,
  keepEtag?: string,
): Promise<string[]> {
  const removed: string[] = [];
  const paths = widths.flatMap((width) => possibleThumbnailPaths(width, uploadName));
  await Promise.all(
    paths.map(async (path) => {
      const blob = thumbnails.getBlobClient(path);
      try {
        const properties = await blob.getProperties();
        const source = properties.metadata?.[SOURCE_ETAG_METADATA];
        if (keepEtag !== undefined && source === bareEtag(keepEtag)) return;
        await blob.delete({ conditions: { ifMatch: properties.etag ?? '*' } });
        removed.push(path);
      } catch (error) {
        // Not there (404), or rewritten meanwhile (412) by a newer version: either way nothing stale to remove.
        if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
      }
    }),
  );
  return removed.sort();
}

/**
 * Whether a thumbnail may be served as its upload's: `orphaned` once the upload its `source` metadata names is gone,
 * `stale` while that upload's current version is not the one it was made from (its `sourceetag`: a newer version's
 * job has not replaced it yet, or an older version's job wrote it late), else `current`. A blob trigger never fires
 * for a deletion, so the thumbnail route asks when it serves one, after reading the thumbnail: the upload's version it
 * sees is then never older than the thumbnail's, so a mismatch always means the thumbnail is the older one.
 * Thumbnails written before the metadata existed name no source (or no version) and count as current.
 */
export async function thumbnailStanding(
  metadata: Record<string, string> | undefined,
  uploadEtag: (name: string) => Promise<string | undefined>,
): Promise<'current' | 'stale' | 'orphaned'> {
  const source = metadata?.[SOURCE_NAME_METADATA];
  if (!source) return 'current';
  let name: string;
  try {
    name = decodeURIComponent(source);
  } catch {
    return 'current';
  }
  const current = await uploadEtag(name);
  if (current === undefined) return 'orphaned';
  const madeFrom = metadata[SOURCE_ETAG_METADATA];
  return madeFrom === undefined || madeFrom === bareEtag(current) ? 'current' : 'stale';
}
