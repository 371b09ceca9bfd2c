import type { ContainerClient } from '@azure/storage-blob';

import type { DeadLetterStore } from '../deadletters/deadLetterStore';
import type { JobStore } from '../jobs/jobStore';
import { uploadNamesFor } from '../thumbnails/thumbnailNames';

export const RETENTION_PAGE = 100;

/**
 * Deletes one page of jobs created before `cutoff` (status, events and index rows; events go in entity-group
 * batches of up to 100 per partition). Returns the number of jobs deleted; 0 means done. Deleting as it goes, it
 * needs no continuation token: a resumed run simply asks again.
 */
export async function purgeJobsPage(jobs: JobStore, cutoff: Date, protectedIds: ReadonlySet<string>): Promise<number> {
  const entries = (await jobs.listedBefore(cutoff, RETENTION_PAGE)).filter((entry) => !protectedIds.has(entry.jobId));
  for (const entry of entries) await jobs.deleteListed(entry);
  return entries.length;
}

export async function purgeDeadLetters(deadLetters: DeadLetterStore, cutoff: Date): Promise<number> {
  return deadLetters.purgeOlderThan(cutoff);
}

/**
 * Deletes thumbnails (`{width}/{thumbnail name}`) whose upload no longer exists. A thumbnail name may carry an
 * appended extension (`cat.jpg.webp` for `cat.jpg`; see thumbnailNames.ts), so every upload name it can belong to is
 * checked, and the thumbnail is kept while any of them exists.
 */
export async function purgeOrphanThumbnails(thumbnails: ContainerClient, uploads: ContainerClient): Promise<number> {
  const exists = new Map<string, boolean>();
  let deleted = 0;
  try {
    for await (const blob of thumbnails.listBlobsFlat()) {
      const slash = blob.name.indexOf('/');
      if (slash < 0) continue;
      let present = false;
      for (const source of uploadNamesFor(blob.name.slice(slash + 1))) {
        let sourceExists = exists.get(source);
        if (sourceExists === undefined) {
          sourceExists = await uploads.getBlobClient(source).exists();
          exists.set(source, sourceExists);
        }
        if (sourceExists) {
          present = true;
          break;
        }
      }
      if (!present) {
        await thumbnails.getBlobClient(blob.name).deleteIfExists();
        deleted++;
      }
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return deleted;
}
