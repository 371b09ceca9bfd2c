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

/** The URL the app serves a thumbnail from (`/api/thumbnails/{width}/{name}`): storage itself is private. */
export function thumbnailUrl(width: number, name: string): string {
  return publicApiUrl(`thumbnails/${width}/${name.split('/').map(encodeURIComponent).join('/')}`);
}

/** Seconds a poller should wait before asking again while a job is in flight. */
export const RETRY_AFTER_SECONDS = 2;
