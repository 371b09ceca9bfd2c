import type { BlobClient, ContainerClient } from '@azure/storage-blob';

import { statusOf } from '../storage/tableErrors';
import { SOURCE_ETAG_METADATA, thumbnailStanding } from './staleThumbnails';
import { type ThumbnailReply, thumbnailReply, type ThumbnailRequest } from './thumbnailCaching';
import { currentUploadEtag } from './uploadVersions';

type ContentReply = Extract<ThumbnailReply, { kind: 'content' }>;
type RedirectReply = Extract<ThumbnailReply, { kind: 'redirect' }>;

/** How `GET /api/thumbnails/{width}/{name}` answers, with the image's bytes only when the answer sends them. */
export type ThumbnailRead =
  /** `200` with the image; `reply` carries the ETag and caching of the very blob version `body` was read from. */
  | { kind: 'image'; reply: ContentReply; body: Buffer; contentType: string }
  /** `304`: the caller's copy is the current one. Nothing was downloaded. */
  | { kind: 'not-modified'; reply: ContentReply }
  /** `v` names another version than the current one: `307` to the current version's URL. Nothing was downloaded. */
  | { kind: 'redirect'; reply: RedirectReply }
  | { kind: 'missing' }
  /** Its upload was deleted: never passed off as current, and removed. */
  | { kind: 'orphaned' }
  /** Made from another version than the upload's current one: not served, and left for that version's job. */
  | { kind: 'stale' };

/** What was decided for one version of the thumbnail, before its bytes are read (`send`: a `200` with them). */
type Decision = Exclude<ThumbnailRead, { kind: 'image' | 'missing' }> | { kind: 'send'; reply: ContentReply };

/** What a decision needs of a thumbnail version: the same from its properties or from a download's headers. */
interface ThumbnailHeaders {
  etag?: string;
  metadata?: Record<string, string>;
}

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
 * The answer for the thumbnail version `headers` describes. Its upload is looked at after the thumbnail was, so the
 * upload version seen is never older than the thumbnail's (see `thumbnailStanding`).
 */
async function decide(
  containers: { uploads: ContainerClient },
  blob: BlobClient,
  headers: ThumbnailHeaders,
  request: ThumbnailRequest,
): Promise<Decision> {
  const standing = await thumbnailStanding(headers.metadata, (upload) => currentUploadEtag(containers.uploads, upload));
  switch (standing) {
    case 'stale':
      return { kind: 'stale' };
    case 'orphaned':
      // Only the version looked at: one rewritten meanwhile stays.
      await blob.deleteIfExists({ conditions: { ifMatch: headers.etag ?? '*' } }).catch(() => undefined);
      return { kind: 'orphaned' };
    case 'current':
      break;
    default: {
      const never: never = standing;
      throw new Error(`unknown thumbnail standing ${String(never)}`);
    }
  }
  const reply = thumbnailReply({ etag: headers.etag, version: headers.metadata?.[SOURCE_ETAG_METADATA] }, request);
  if (reply.kind === 'redirect') return { kind: 'redirect', reply };
  return reply.status === 304 ? { kind: 'not-modified', reply } : { kind: 'send', reply };
}

/** The image of the thumbnail version `etag` (`If-Match`: a version replaced since it was decided on fails, `412`). */
async function downloadVersion(blob: BlobClient, etag: string, reply: ContentReply): Promise<ThumbnailRead> {
  const download = await blob.download(0, undefined, { conditions: { ifMatch: etag } });
  return {
    kind: 'image',
    reply,
    body: await readAll(download.readableStreamBody),
    contentType: download.contentType ?? 'application/octet-stream',
  };
}

/**
 * Downloads the thumbnail and decides from the download's own headers, so the ETag and version sent always belong to
 * the bytes sent. A body not sent is dropped unread.
 */
async function downloadAndDecide(
  containers: { uploads: ContainerClient },
  blob: BlobClient,
  request: ThumbnailRequest,
): Promise<ThumbnailRead> {
  const download = await blob.download();
  const body = download.readableStreamBody;
  try {
    const decision = await decide(containers, blob, download, request);
    if (decision.kind !== 'send') {
      body?.destroy();
      return decision;
    }
    return {
      kind: 'image',
      reply: decision.reply,
      body: await readAll(body),
      contentType: download.contentType ?? 'application/octet-stream',
    };
  } catch (error) {
    body?.destroy(); // never leave the connection holding an unread body
    throw error;
  }
}

/**
 * Reads one thumbnail for the app's route (storage stays private) and decides the answer to `request`; a thumbnail
 * whose upload was deleted is `orphaned` and deleted; one made from another version than the upload's current one is
 * `stale` and never served — not deleted, the current version's job replaces it (or, failing, removes it).
 *
 * The image is downloaded only for an answer that sends it. A request with `If-None-Match` may be answered `304`, so
 * the thumbnail's properties are read first and decide; a `200` then downloads exactly the version they described
 * (`If-Match` its ETag). Were it replaced in between (`412`), the decision is made once more, from a plain download's
 * own headers. A request without `If-None-Match` is almost always a `200`, so it downloads at once and decides from
 * the download's headers: one request to storage, not two (a redirect of an old `v` then drops the body unread).
 */
export async function readThumbnail(
  containers: { thumbnails: ContainerClient; uploads: ContainerClient },
  width: string,
  name: string,
  request: ThumbnailRequest,
): Promise<ThumbnailRead> {
  if (!isSafeThumbnailName(name)) return { kind: 'missing' };
  const blob = containers.thumbnails.getBlobClient(`${width}/${name}`);
  try {
    if (request.ifNoneMatch === null) return await downloadAndDecide(containers, blob, request);
    const properties = await blob.getProperties();
    const decision = await decide(containers, blob, properties, request);
    if (decision.kind !== 'send') return decision;
    if (properties.etag === undefined) return await downloadAndDecide(containers, blob, request);
    try {
      return await downloadVersion(blob, properties.etag, decision.reply);
    } catch (error) {
      // Rewritten since the look (412), or deleted (a conditional read of a deleted blob may answer 412 or 404).
      if (statusOf(error) !== 412 && statusOf(error) !== 404) throw error;
      return await downloadAndDecide(containers, blob, request);
    }
  } catch (error) {
    if (statusOf(error) === 404) return { kind: 'missing' };
    throw error;
  }
}
