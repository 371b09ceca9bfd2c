import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The request header a caller sends its cancel token in. */
export const CANCEL_TOKEN_HEADER = 'x-cancel-token';

/**
 * A new cancel token: 256 random bits, returned only to the caller that created the job. A job id is a read
 * capability (anyone holding the status URL may poll it); the cancel token is the write capability on top of it.
 */
export function newCancelToken(): string {
  return randomBytes(32).toString('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Whether `presented` is the job's token. Compared as SHA-256 digests in constant time, so neither the length nor
 * the content of the stored token leaks through timing. A job without a token (created before tokens existed, or
 * not cancellable by its caller) matches nothing.
 */
export function cancelTokenMatches(stored: string | undefined, presented: string | null | undefined): boolean {
  if (!stored || !presented) return false;
  return timingSafeEqual(digest(stored), digest(presented));
}
