import { appConfig } from '../config/appConfig';

/**
 * `path` below `/api/` of an API that lives at `baseUrl` (origin and optional path prefix, no trailing slash), or
 * relative (`/api/...`) when there is no base URL.
 */
export function apiUrlUnder(baseUrl: string | undefined, path: string): string {
  return `${baseUrl ?? ''}/api/${path}`;
}

/**
 * A URL of this API for callers: absolute under `PUBLIC_BASE_URL` when it is set, otherwise relative (`/api/...`).
 * Never built from the request's Host header, which the caller controls (a forged Host would put the caller's own
 * domain into `Location` headers and cached responses).
 *
 * @param path the path below `/api/`, already encoded
 */
export function publicApiUrl(path: string): string {
  return apiUrlUnder(appConfig().publicBaseUrl, path);
}

/** The URL of a job's status (`/api/jobs/{id}`). */
export function jobStatusUrl(jobId: string): string {
  return publicApiUrl(`jobs/${encodeURIComponent(jobId)}`);
}

/** The query parameter of a thumbnail URL that names the upload version it shows (see thumbnailCaching.ts). */
export const THUMBNAIL_VERSION_PARAMETER = 'v';

/**
 * The URL the app serves a thumbnail from (`/api/thumbnails/{width}/{name}`): storage itself is private. With a
 * `version`, the URL of that version's thumbnail (`?v=`), which caches may keep for good.
 */
export function thumbnailUrl(width: number | string, name: string, version?: string): string {
  const path = `thumbnails/${width}/${name.split('/').map(encodeURIComponent).join('/')}`;
  return publicApiUrl(
    version === undefined ? path : `${path}?${THUMBNAIL_VERSION_PARAMETER}=${encodeURIComponent(version)}`,
  );
}

/** Seconds a poller should wait before asking again while a job is in flight. */
export const RETRY_AFTER_SECONDS = 2;
