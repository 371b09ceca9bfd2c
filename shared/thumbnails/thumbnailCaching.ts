import { bareEtag } from './staleThumbnails';

/*
 * How the thumbnail route lets browsers and CDNs cache. A thumbnail's name stays the same across versions of its
 * upload, so the name alone can never be cached as if it were fixed: the job's result links each thumbnail with the
 * upload version it was made from (`?v=`), and only such a URL, answered with that very version, is cached for good.
 */

/** A versioned URL answered with its own version holds bytes that never change: cache for a year, never ask again. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/** The unversioned URL (and the blob itself) changes with every upload: a cache must ask each time (`304` if same). */
export const REVALIDATE_CACHE_CONTROL = 'no-cache';
/** The answer to an old (or unknown) version: never stored, since the version it points to can change again. */
export const REDIRECT_CACHE_CONTROL = 'no-store';

/** The version a thumbnail URL carries for thumbnails made from the upload version `sourceEtag`. */
export function thumbnailVersion(sourceEtag: string): string {
  // The same form as the thumbnail's `sourceetag` metadata, so the route compares the two directly.
  return bareEtag(sourceEtag);
}

/** The thumbnail the route found current: its blob's ETag, and the upload version it was made from (when recorded). */
export interface ServedThumbnail {
  etag: string | undefined;
  version: string | undefined;
}

/** What of the request decides the answer: the `v` asked for and `If-None-Match` (null when absent). */
export interface ThumbnailRequest {
  version: string | null;
  ifNoneMatch: string | null;
}

export type ThumbnailReply =
  /** The thumbnail (`200`), or `304` without a body when the caller's copy is this one. */
  | { kind: 'content'; status: 200 | 304; cacheControl: string; etag?: string }
  /**
   * `v` names another version than the one current: `307` to the current version's URL (unversioned when the
   * thumbnail records none), `no-store`. So an old link still shows the upload's picture, and no cache ever keeps
   * other bytes under that old link.
   */
  | { kind: 'redirect'; version: string | undefined; cacheControl: string };

/**
 * How the route answers for a current thumbnail. Immutable caching only when `v` is the version served: a `v` of an
 * older version, or of one whose thumbnails are not written yet, is never answered with content (an older one is
 * redirected; a newer one never reaches here, the route finds the thumbnail stale and answers `404`). The
 * unversioned URL is `no-cache` with the blob's ETag, which is strong: a thumbnail rewritten in any way gets a new one.
 */
export function thumbnailReply(served: ServedThumbnail, request: ThumbnailRequest): ThumbnailReply {
  if (request.version !== null && (served.version === undefined || request.version !== served.version)) {
    return { kind: 'redirect', version: served.version, cacheControl: REDIRECT_CACHE_CONTROL };
  }
  const cacheControl = request.version === null ? REVALIDATE_CACHE_CONTROL : IMMUTABLE_CACHE_CONTROL;
  if (served.etag === undefined) return { kind: 'content', status: 200, cacheControl };
  const unchanged = request.ifNoneMatch !== null && ifNoneMatchMatches(request.ifNoneMatch, served.etag);
  return { kind: 'content', status: unchanged ? 304 : 200, cacheControl, etag: served.etag };
}

/**
 * Whether `If-None-Match` names `etag` (RFC 9110 §13.1.2: weak comparison, so `W/"x"` matches `"x"`; `*` matches
 * any current representation). Tags are taken as quoted strings, so a comma inside one does not split it.
 */
export function ifNoneMatchMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const opaque = (tag: string): string => tag.replace(/^W\//, '');
  const wanted = opaque(etag);
  return (header.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => opaque(tag) === wanted);
}
