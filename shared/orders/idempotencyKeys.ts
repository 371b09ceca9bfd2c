import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';

import { ensureTable, statusOf } from '../storage/tableErrors';

export type IdempotencyOutcome =
  { kind: 'new'; jobId: string } | { kind: 'repeat'; jobId: string } | { kind: 'mismatch'; jobId: string };

/** What an `Idempotency-Key` header may hold: 1-200 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** Why an `Idempotency-Key` header is refused, naming the header as the field; undefined when it is fine. */
export function idempotencyKeyProblem(key: string): { field: string; message: string } | undefined {
  return IDEMPOTENCY_KEY.test(key)
    ? undefined
    : { field: 'Idempotency-Key', message: 'must be 1-200 visible ASCII characters' };
}

export function bodyFingerprint(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

/**
 * The route a key belongs to: the same key sent to `POST /api/orders` and to `POST /api/exports` names two
 * requests, not one (each scope is a row of the key's partition; orders keep the row key they always had).
 */
export type IdempotencyScope = 'orders' | 'exports';
const ROW_KEYS: Record<IdempotencyScope, string> = { orders: 'key', exports: 'export' };

/**
 * `Idempotency-Key` handling: the first request with a key claims it (insert-if-absent) for its job id and body
 * fingerprint; a repeat with the same body gets the same job, a repeat with another body is a conflict.
 */
export class IdempotencyKeys {
  readonly #rowKey: string;

  constructor(
    private readonly table: TableClient,
    scope: IdempotencyScope = 'orders',
  ) {
    this.#rowKey = ROW_KEYS[scope];
  }

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  async claim(key: string, fingerprint: string, proposedJobId: string): Promise<IdempotencyOutcome> {
    // Keys are the caller's text: hash them, so any characters are safe as a row key.
    const partitionKey = createHash('sha256')
      .update(key)
      .digest('base64url')
      .replace(/[/\\#?]/g, '_');
    const rowKey = this.#rowKey;
    try {
      await this.table.createEntity({
        partitionKey,
        rowKey,
        fingerprint,
        jobId: proposedJobId,
        createdAt: new Date().toISOString(),
      });
      return { kind: 'new', jobId: proposedJobId };
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    const existing = await this.table.getEntity<{ fingerprint: string; jobId: string }>(partitionKey, rowKey);
    return existing.fingerprint === fingerprint
      ? { kind: 'repeat', jobId: existing.jobId }
      : { kind: 'mismatch', jobId: existing.jobId };
  }
}
