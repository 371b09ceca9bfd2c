import type { HttpResponseInit } from '@azure/functions';

/** One invalid field of a request, named by its JSON path (`items[0].quantity`). */
export interface FieldProblem {
  field: string;
  message: string;
}

/** RFC 9457 problem details, the body of every error response. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldProblem[];
  [extension: string]: unknown;
}

const PROBLEM_TYPE_BASE = 'https://github.com/azure-background-jobs/problems/';

export function problem(
  status: number,
  code: string,
  title: string,
  detail?: string,
  extra: Record<string, unknown> = {},
): HttpResponseInit {
  const body: ProblemDetails = { type: `${PROBLEM_TYPE_BASE}${code}`, title, status, ...extra };
  if (detail !== undefined) body.detail = detail;
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export function validationProblem(errors: FieldProblem[], status = 400): HttpResponseInit {
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return problem(status, 'validation', 'The request is not valid', detail, { errors });
}

export function notFound(what: string): HttpResponseInit {
  return problem(404, 'not-found', 'Not found', what);
}

/** A repeat of an `Idempotency-Key` with another body (orders and exports answer it alike). */
export function idempotencyKeyReused(): HttpResponseInit {
  return problem(
    409,
    'idempotency-key-reused',
    'Idempotency key reused',
    'this Idempotency-Key was used with a different request body',
  );
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
