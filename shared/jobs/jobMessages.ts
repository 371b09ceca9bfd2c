import type { z } from 'zod';

import { MALFORMED_MESSAGE_CODE, PermanentJobError } from './jobErrors';

/**
 * Decodes a queue message at the boundary: payloads are `unknown` until validated. A message that does not match
 * is a permanent failure (`MALFORMED_MESSAGE`): redelivering the same bytes cannot help.
 */
export function decodeMessage<Message>(schema: z.ZodType<Message>, message: unknown, what: string): Message {
  const parsed = schema.safeParse(message);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
  throw new PermanentJobError(MALFORMED_MESSAGE_CODE, `not ${what}: ${where}${issue?.message ?? 'invalid'}`);
}
