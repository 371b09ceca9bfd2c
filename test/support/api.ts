import type { DevhostProcess } from './devhostProcess';
import { waitFor } from './wait';

export interface PublicJob {
  id: string;
  type: string;
  status: string;
  progress: { step: string; index: number; total: number; percent: number; message?: string };
  attempts: number;
  error?: { code: string; message: string };
  result?: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  completedAt?: string;
}

export async function getJson<T>(
  host: DevhostProcess,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(host.url(path), init);
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

export async function postJson<T>(
  host: DevhostProcess,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return getJson<T>(host, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const TERMINAL = new Set(['succeeded', 'failed', 'compensated', 'cancelled']);

/** Polls the status API until the job reaches a terminal status (or `status`, when given). */
export async function waitForJob(
  host: DevhostProcess,
  jobId: string,
  status?: string,
  timeoutMs = 30_000,
): Promise<PublicJob> {
  return waitFor(
    `job ${jobId} to reach ${status ?? 'a terminal status'}`,
    async () => {
      const { status: code, body } = await getJson<PublicJob>(host, `/api/jobs/${jobId}`);
      if (code !== 200) return undefined;
      if (status ? body.status === status : TERMINAL.has(body.status)) return body;
      return undefined;
    },
    timeoutMs,
    200,
  );
}
