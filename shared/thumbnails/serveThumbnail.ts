import type { ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import { SOURCE_ETAG_METADATA, thumbnailStanding } from './staleThumbnails';
import { currentUploadEtag } from './uploadVersions';

/** What `GET /api/thumbnails/{width}/{name}` found. */
export type ThumbnailRead =
  | {
      kind: 'found';
      body: Buffer;
      contentType: string;
      /** The thumbnail blob's ETag: it changes whenever the thumbnail is rewritten. */
      etag: string | undefined;
      /** The upload version it was made from (`sourceetag`), undefined for thumbnails from before it was recorded. */
      version: string | undefined;
    }
  | { kind: 'missing' }
  /** Its upload was deleted: never passed off as current, and removed. */
  | { kind: 'orphaned' }
  /** Made from another version than the upload's current one: not served, and left for that version's job. */
  | { kind: 'stale' };

/** The name stays inside the thumbnails container: no empty segments, no `.` or `..`, no backslashes. */
export function isSafeThumbnailName(name: string): boolean {
  return (
    name !== '' && !name.includes('\\') && !name.split('/').some((part) => part === '' || part === '.' || part === '..')
  );
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  if (stream) for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Reads one thumbnail for the app's route (storage stays private): one download, whose headers carry the source
 * upload's name and version, then one look at that upload. A thumbnail whose upload was deleted is `orphaned` and
 * deleted (only the version read: one rewritten meanwhile stays); one made from another version than the upload's
 * current one is `stale` and never served — it is not deleted, the current version's job replaces it (or, failing,
 * removes it).
 */
export async function readThumbnail(
  containers: { thumbnails: ContainerClient; uploads: ContainerClient },
  width: string,
  name: string,
): Promise<ThumbnailRead> {
  if (!isSafeThumbnailName(name)) return { kind: 'missing' };
  const blob = containers.thumbnails.getBlobClient(`${width}/${name}`);
  let download: Awaited<ReturnType<typeof blob.download>>;
  try {
    download = await blob.download();
  } catch (error) {
    if (statusOf(error) === 404) return { kind: 'missing' };
    throw error;
  }
  const body = download.readableStreamBody;
  try {
    const standing = await thumbnailStanding(download.metadata, (upload) =>
      currentUploadEtag(containers.uploads, upload),
    );
    if (standing === 'stale') {
      body?.destroy();
      return { kind: 'stale' };
    }
    if (standing === 'orphaned') {
      body?.destroy();
      await blob.deleteIfExists({ conditions: { ifMatch: download.etag ?? '*' } }).catch(() => undefined);
      return { kind: 'orphaned' };
    }
    return {
      kind: 'found',
      body: await readAll(body),
      contentType: download.contentType ?? 'application/octet-stream',
      etag: download.etag,
      version: download.metadata?.[SOURCE_ETAG_METADATA],
    };
  } catch (error) {
    body?.destroy(); // never leave the connection holding an unread body
    throw error;
  }
}
