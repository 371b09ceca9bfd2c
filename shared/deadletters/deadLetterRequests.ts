import { z } from 'zod';

import { continuationTokenSchema } from '../http/continuationToken';
import type { DeadLetterPort } from '../jobs/jobPorts';
import { type DeadLetter, DeadLetterConflictError } from './deadLetterTypes';

/** The query of `GET /api/deadletters`: a state filter, a page size and the previous page's token. */
export const deadLetterListQuery = z.object({
  state: z.enum(['open', 'replayed', 'discarded']).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  continuationToken: continuationTokenSchema.optional(),
});

export type DiscardOutcome =
  | { outcome: 'discarded'; deadLetter: DeadLetter }
  | { outcome: 'not-found' }
  /** Already replayed or discarded: only an open dead letter can be discarded. */
  | { outcome: 'conflict'; message: string };

/** Discards an open dead letter (an operator decided its work is not to be done). */
export async function discardDeadLetter(
  deadLetters: Pick<DeadLetterPort, 'transition'>,
  id: string,
  note: string,
): Promise<DiscardOutcome> {
  try {
    const deadLetter = await deadLetters.transition(id, 'discarded', note);
    return deadLetter ? { outcome: 'discarded', deadLetter } : { outcome: 'not-found' };
  } catch (error) {
    if (error instanceof DeadLetterConflictError) return { outcome: 'conflict', message: error.message };
    throw error;
  }
}
