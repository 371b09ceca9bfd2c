import { z } from 'zod';

/** The SDK's table continuation token: base64 of `{"nextPartitionKey":…,"nextRowKey":…}`. */
const decodedToken = z.object({ nextPartitionKey: z.string().min(1), nextRowKey: z.string().optional() });

function isTableContinuationToken(token: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return false;
  try {
    return decodedToken.safeParse(JSON.parse(Buffer.from(token, 'base64').toString('utf8'))).success;
  } catch {
    return false;
  }
}

/**
 * A `continuationToken` query parameter as a page of `GET /api/jobs` or `/api/deadletters` returned it. Anything else
 * is a 400 naming the parameter: the table SDK would throw on it while decoding, a 500.
 */
export const continuationTokenSchema = z
  .string()
  .min(1)
  .max(2000)
  .refine(isTableContinuationToken, 'must be a continuationToken returned by the previous page');
