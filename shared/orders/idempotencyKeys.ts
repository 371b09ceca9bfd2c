import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';

export type IdempotencyOutcome =
  { kind: 'new'; jobId: string } | { kind: 'repeat'; jobId: string } | { kind: 'mismatch'; jobId: string };

export function bodyFingerprint(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

/**
 * `Idempotency-Key` handling: the first request with a key claims it (insert-if-absent) for its job id and body
 * fingerprint; a repeat with the same body gets the same job, a repeat with another body is a conflict.
 */
export class IdempotencyKeys {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async claim(key: string, fingerprint: string, proposedJobId: string): Promise<IdempotencyOutcome> {
    // Keys are the caller's text: hash them, so any characters are safe as a row key.
    const partitionKey = createHash('sha256')
      .update(key)
      .digest('base64url')
      .replace(/[/\\#?]/g, '_');
    try {
      await this.table.createEntity({
        partitionKey,
        rowKey: 'key',
        fingerprint,
        jobId: proposedJobId,
        createdAt: new Date().toISOString(),
      });
      return { kind: 'new', jobId: proposedJobId };
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    const existing = await this.table.getEntity<{ fingerprint: string; jobId: string }>(partitionKey, 'key');
    return existing.fingerprint === fingerprint
      ? { kind: 'repeat', jobId: existing.jobId }
      : { kind: 'mismatch', jobId: existing.jobId };
  }
}
