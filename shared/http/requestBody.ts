import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';

import { type FieldProblem, problem, validationProblem } from './problem';

/** Request bodies larger than this are refused before parsing (queue messages are 64 KiB at most anyway). */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

export type Parsed<T> = { ok: true; value: T } | { ok: false; response: HttpResponseInit };

/** Turns zod issues into field problems named by their JSON path (`items[0].quantity`). */
export function fieldProblems(issues: readonly z.core.$ZodIssue[]): FieldProblem[] {
  return issues.map((issue) => {
    const field = issue.path.reduce<string>((path, part) => {
      if (typeof part === 'number') return `${path}[${part}]`;
      return path ? `${path}.${String(part)}` : String(part);
    }, '');
    return { field: field || '(body)', message: issue.message };
  });
}

/** Reads a JSON body and validates it with `schema`: 413/415/400 problem responses naming what is wrong. */
export async function parseJsonBody<T>(request: HttpRequest, schema: z.ZodType<T>): Promise<Parsed<T>> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_JSON_BODY_BYTES) {
    return {
      ok: false,
      response: problem(413, 'too-large', 'Request body too large', `at most ${MAX_JSON_BODY_BYTES} bytes`),
    };
  }
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(contentType)) {
    return {
      ok: false,
      response: problem(415, 'unsupported-media-type', 'Unsupported media type', 'send Content-Type: application/json'),
    };
  }
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_JSON_BODY_BYTES) {
    return {
      ok: false,
      response: problem(413, 'too-large', 'Request body too large', `at most ${MAX_JSON_BODY_BYTES} bytes`),
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      response: validationProblem([{ field: '(body)', message: `is not valid JSON: ${(error as Error).message}` }]),
    };
  }
  const result = schema.safeParse(body);
  if (!result.success) return { ok: false, response: validationProblem(fieldProblems(result.error.issues)) };
  return { ok: true, value: result.data };
}
