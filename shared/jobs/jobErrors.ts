import type { JobError } from './jobTypes';

/**
 * The one permanent failure (BullMQ's `UnrecoverableError`): retrying cannot help (bad input, a declined card, an
 * image that does not decode), so the runtime skips the remaining deliveries and takes the job's failure path at
 * once. Every other throwable is transient and is retried by the queue. `code` is stable and stored on the job.
 */
export class PermanentJobError extends Error {
  override readonly name: string = 'PermanentJobError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The work went away before it could be done (its input was deleted or replaced by a newer version): a permanent
 * outcome that ends the job `cancelled`, not `failed`, and is not dead-lettered — nothing failed.
 */
export class JobCancelledError extends PermanentJobError {
  override readonly name: string = 'JobCancelledError';
}

/** The code a transient failure gets when its error carries none. */
export const TRANSIENT_CODE = 'TRANSIENT';
/** A queue message that does not match its schema: permanent, no retry can fix it. */
export const MALFORMED_MESSAGE_CODE = 'MALFORMED_MESSAGE';
/** A stored job whose data no longer matches its definition's schema. */
export const MALFORMED_JOB_DATA_CODE = 'MALFORMED_JOB_DATA';

/**
 * Turns anything thrown into an Error, once, at the runtime's boundary (graphile-worker's `coerceError`, the
 * Functions library's `ensureErrorType`): non-errors are wrapped with the original as `cause`.
 */
export function normaliseError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  const text = typeof thrown === 'string' ? thrown : safeJson(thrown);
  return new Error(`non-error thrown: ${text}`, { cause: thrown });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** How a failure is handled: `permanent` skips the retries. */
export interface ClassifiedFailure {
  permanent: boolean;
  error: JobError;
  cause: Error;
}

/**
 * The single place that decides permanent vs transient: a {@link PermanentJobError} is permanent, anything else is
 * transient. The stored message is the first line only (stack traces and multi-line SDK messages stay in logs).
 */
export function classifyFailure(thrown: unknown): ClassifiedFailure {
  const error = normaliseError(thrown);
  const message = (error.message.split('\n')[0] ?? '').slice(0, 2000) || error.name;
  if (error instanceof PermanentJobError)
    return { permanent: true, error: { code: error.code, message }, cause: error };
  const code = (error as { code?: unknown }).code;
  return {
    permanent: false,
    error: { code: typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : TRANSIENT_CODE, message },
    cause: error,
  };
}
