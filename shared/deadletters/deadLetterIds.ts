import { createHash } from 'node:crypto';

const NEWEST_FIRST_BASE = 9_999_999_999_999;

/**
 * The id sorts newest first and is stable for one poisoned message (its poison-queue id and insertion time), so a
 * poison message delivered twice is recorded once.
 */
export function deadLetterId(poisonMessageId: string, poisonInsertedAt: Date, sourceName: string): string {
  const inverted = (NEWEST_FIRST_BASE - poisonInsertedAt.getTime()).toString().padStart(13, '0');
  const hash = createHash('sha256').update(`${sourceName}\n${poisonMessageId}`).digest('base64url').slice(0, 16);
  return `dl_${inverted}_${hash}`;
}

export function isValidDeadLetterId(id: string): boolean {
  return /^dl_\d{13}_[A-Za-z0-9_-]{16}$/.test(id);
}
