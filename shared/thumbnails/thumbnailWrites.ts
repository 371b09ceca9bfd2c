import { createHash } from 'node:crypto';

import type { BlobRequestConditions, ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import { bareEtag, SOURCE_ETAG_METADATA } from './staleThumbnails';

/** One rendered size, ready to be stored at `path` in the thumbnails container. */
export interface ThumbnailToWrite {
  path: string;
  data: Buffer;
  contentType: string;
}

/** The upload version whose thumbnails are written, and what the thumbnails carry. */
export interface ThumbnailWriteOptions {
  /** The upload version's ETag: thumbnails of any other version are replaced only while this one is current. */
  sourceEtag: string;
  /** Metadata every thumbnail carries; must name the source version under {@link SOURCE_ETAG_METADATA}. */
  metadata: Record<string, string>;
  cacheControl: string;
  /** The ETag of the upload's current version, undefined when it is gone. */
  currentUploadEtag: () => Promise<string | undefined>;
}

/** How writing one version's thumbnails ended: all written, or left to the version that replaced it. */
export type ThumbnailWriteOutcome =
  | { kind: 'written' }
  /** Another version is current (or the upload is gone): nothing of this version is left among the thumbnails. */
  | { kind: 'superseded'; currentEtag: string | undefined };

/** Rounds of "someone else wrote it meanwhile" before the attempt gives up and is retried by the host. */
const MAX_WRITE_ROUNDS = 5;

/** Thrown when thumbnails kept changing under every write: transient, the job's attempt is retried. */
export class ThumbnailWriteContentionError extends Error {
  override readonly name = 'ThumbnailWriteContentionError';
  readonly code = 'THUMBNAIL_WRITE_CONTENTION';
}

/**
 * Writes one upload version's thumbnails so that an older version never replaces a newer one's, however slowly it
 * ran. ETags are not ordered, so "newer" is "the upload's current version". Each write is conditional: first
 * create-if-absent (a name's first upload, the common case, costs no request more than a plain write); a thumbnail
 * that is there is read: one of this version is left as it is when it is what this write would store (these very
 * bytes, headers and metadata: a run again) and rewritten otherwise; one of another version is replaced — with `If-Match` on the ETag just read — only when this
 * version is still the current upload, asked after that read. So a newer version's thumbnail written before the
 * read makes this version see it is no longer current, and one written after the read makes the conditional write
 * fail and the round start again. A superseded version deletes the thumbnails it already wrote (only while they are
 * unchanged), leaving the name's thumbnails to its successor.
 */
export async function writeVersionThumbnails(
  thumbnails: ContainerClient,
  items: readonly ThumbnailToWrite[],
  options: ThumbnailWriteOptions,
): Promise<ThumbnailWriteOutcome> {
  const mine = bareEtag(options.sourceEtag);
  const written = new Map<string, string>();
  let pending: { item: ThumbnailToWrite; conditions: BlobRequestConditions }[] = items.map((item) => ({
    item,
    conditions: { ifNoneMatch: '*' },
  }));
  for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
    // The sizes are written in parallel: each is its own blob, and storage latency, not CPU, dominates here.
    const attempts = await Promise.all(
      pending.map(async (entry) => ({
        ...entry,
        write: await writeIf(thumbnails, entry.item, entry.conditions, options),
      })),
    );
    for (const { item, write } of attempts)
      if (write.kind === 'written' && write.etag) written.set(item.path, write.etag);
    const conflicts = attempts.filter((attempt) => attempt.write.kind === 'conflict');
    if (conflicts.length === 0) return { kind: 'written' };
    const found = await Promise.all(conflicts.map(({ item }) => readSource(thumbnails, item.path)));
    // Asked only after every read above: a version current now was current when those thumbnails were read.
    if (found.some((existing) => existing !== undefined && existing.sourceEtag !== mine)) {
      const current = await options.currentUploadEtag();
      if (current === undefined || bareEtag(current) !== mine) {
        await removeOwnWrites(thumbnails, written);
        return { kind: 'superseded', currentEtag: current };
      }
    }
    pending = conflicts.flatMap(({ item }, index) => {
      const existing = found[index];
      // This version's thumbnail is there already, exactly as this run would write it (a run again: the renderer
      // gives the same bytes for the same input): it stays as it is, ETag and all. Storage keeps the MD5 of a blob
      // put in one request. One written otherwise (another job's id, a Cache-Control since changed) is rewritten.
      if (existing?.sourceEtag === mine && sameBlob(existing, item, options)) return [];
      return [{ item, conditions: existing ? { ifMatch: existing.etag } : { ifNoneMatch: '*' } }];
    });
    if (pending.length === 0) return { kind: 'written' };
  }
  throw new ThumbnailWriteContentionError(
    `the thumbnails of ${items[0]?.path ?? 'the upload'} changed under ${MAX_WRITE_ROUNDS} rounds of writes`,
  );
}

/** Writes one thumbnail if the blob is as `conditions` expect (then with its new ETag), else a conflict. */
async function writeIf(
  thumbnails: ContainerClient,
  item: ThumbnailToWrite,
  conditions: BlobRequestConditions,
  options: ThumbnailWriteOptions,
): Promise<{ kind: 'written'; etag: string | undefined } | { kind: 'conflict' }> {
  try {
    const response = await thumbnails.getBlockBlobClient(item.path).uploadData(item.data, {
      blobHTTPHeaders: { blobContentType: item.contentType, blobCacheControl: options.cacheControl },
      metadata: options.metadata,
      conditions,
    });
    return { kind: 'written', etag: response.etag };
  } catch (error) {
    // 409 BlobAlreadyExists (If-None-Match: *), 412 ConditionNotMet (If-Match), 404 (If-Match on a deleted blob).
    const status = statusOf(error);
    if (status === 409 || status === 412 || status === 404) return { kind: 'conflict' };
    throw error;
  }
}

/** The thumbnail at `path` now: its ETag and the upload version it was made from; undefined when absent. */
async function readSource(thumbnails: ContainerClient, path: string): Promise<StoredThumbnail | undefined> {
  try {
    const properties = await thumbnails.getBlobClient(path).getProperties();
    return {
      etag: properties.etag ?? '*',
      sourceEtag: properties.metadata?.[SOURCE_ETAG_METADATA],
      md5: properties.contentMD5,
      contentType: properties.contentType,
      cacheControl: properties.cacheControl,
      metadata: properties.metadata ?? {},
    };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** A thumbnail as stored: what decides whether a run again leaves it as it is. */
interface StoredThumbnail {
  etag: string;
  sourceEtag: string | undefined;
  md5: Uint8Array | undefined;
  contentType: string | undefined;
  cacheControl: string | undefined;
  metadata: Record<string, string>;
}

/** Whether the stored thumbnail is what writing `item` with `options` would store: bytes, headers and metadata. */
function sameBlob(stored: StoredThumbnail, item: ThumbnailToWrite, options: ThumbnailWriteOptions): boolean {
  if (stored.contentType !== item.contentType || stored.cacheControl !== options.cacheControl) return false;
  // Metadata names are case-insensitive in storage.
  const lower = (metadata: Record<string, string>) =>
    Object.entries(metadata)
      .map(([name, value]) => `${name.toLowerCase()}=${value}`)
      .sort()
      .join('\n');
  if (lower(stored.metadata) !== lower(options.metadata)) return false;
  return stored.md5 !== undefined && Buffer.from(stored.md5).equals(createHash('md5').update(item.data).digest());
}

/** Deletes what this version wrote, each only while unchanged: a successor's thumbnail is never removed. */
async function removeOwnWrites(thumbnails: ContainerClient, written: ReadonlyMap<string, string>): Promise<void> {
  await Promise.all(
    [...written].map(async ([path, etag]) => {
      try {
        await thumbnails.getBlobClient(path).delete({ conditions: { ifMatch: etag } });
      } catch (error) {
        if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
      }
    }),
  );
}
