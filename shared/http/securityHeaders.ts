import type { HttpResponseInit } from '@azure/functions';
import { HttpResponse } from '@azure/functions';

/** Headers every HTTP response of the app carries: browsers never guess a content type other than the declared one. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff' };

/**
 * The HTTP result of a function with the security headers added (a header the function set itself is kept).
 * Handles every shape a handler may return: an `HttpResponse`, or an `HttpResponseInit` whose headers are a record,
 * a `Headers` or a list of pairs.
 */
export function withSecurityHeaders(result: unknown): unknown {
  if (result instanceof HttpResponse) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      if (!result.headers.has(name)) result.headers.set(name, value);
    }
    return result;
  }
  if (result === null || result === undefined || typeof result !== 'object') return result;
  const init = result as HttpResponseInit;
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return { ...init, headers: Object.fromEntries(headers.entries()) };
}
