import type { HttpRequest } from '@azure/functions';

/** The URL of a job's status, absolute when the request says where the API lives. */
export function jobStatusUrl(request: HttpRequest, jobId: string): string {
  const base = new URL(request.url);
  return new URL(`/api/jobs/${encodeURIComponent(jobId)}`, base.origin).toString();
}

/** Seconds a poller should wait before asking again while a job is in flight. */
export const RETRY_AFTER_SECONDS = 2;
