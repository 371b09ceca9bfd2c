import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';

import { asText } from '../storage/entityValues';
import { ensureTable, statusOf } from '../storage/tableErrors';
export { deadLetterId, isValidDeadLetterId } from './deadLetterIds';
import {
  type DeadLetter,
  DeadLetterConflictError,
  type DeadLetterHistoryEntry,
  type DeadLetterSource,
  type DeadLetterState,
} from './deadLetterTypes';

export type { DeadLetter, DeadLetterHistoryEntry, DeadLetterSource, DeadLetterState } from './deadLetterTypes';
export { DeadLetterConflictError } from './deadLetterTypes';

const PARTITION = 'deadletter';
/** Table string properties hold at most 64 KiB (32 K UTF-16 characters): longer bodies are split. */
const CHUNK_CHARS = 30_000;
const MAX_CHUNKS = 8;
const NEWEST_FIRST_BASE = 9_999_999_999_999;

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

function toEntity(letter: DeadLetter): Entity {
  const chunks: Record<string, string> = {};
  const count = Math.ceil(letter.body.length / CHUNK_CHARS);
  if (count > MAX_CHUNKS) throw new RangeError(`dead letter body of ${letter.body.length} characters is too large`);
  for (let i = 0; i < count; i++) chunks[`body${i}`] = letter.body.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  return {
    partitionKey: PARTITION,
    rowKey: letter.id,
    source: JSON.stringify(letter.source),
    bodyChunks: count,
    ...chunks,
    dequeueCount: letter.dequeueCount,
    errorCode: letter.error.code,
    errorMessage: letter.error.message.slice(0, 4000),
    jobId: letter.jobId ?? '',
    deadLetteredAt: letter.deadLetteredAt,
    state: letter.state,
    replays: letter.replays,
    history: JSON.stringify(letter.history.slice(-50)),
  };
}

function fromEntity(entity: Record<string, unknown>): DeadLetter {
  const count = Number(entity['bodyChunks'] ?? 0);
  let body = '';
  for (let i = 0; i < count; i++) body += asText(entity[`body${i}`]);
  const jobId = asText(entity['jobId']);
  return {
    id: String(entity['rowKey']),
    source: JSON.parse(String(entity['source'])) as DeadLetterSource,
    body,
    dequeueCount: Number(entity['dequeueCount'] ?? 0),
    error: { code: asText(entity['errorCode']), message: asText(entity['errorMessage']) },
    ...(jobId ? { jobId } : {}),
    deadLetteredAt: String(entity['deadLetteredAt']),
    state: String(entity['state']) as DeadLetterState,
    replays: Number(entity['replays'] ?? 0),
    history: JSON.parse(asText(entity['history'], '[]')) as DeadLetterHistoryEntry[],
  };
}

/**
 * Dead letters in Table Storage: a poison queue alone loses data (messages expire after seven days), so every
 * poisoned message is copied here with its body, source and error, and stays until it is replayed or discarded.
 */
export class DeadLetterStore {
  constructor(private readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await ensureTable(this.table);
  }

  /** Records a dead letter once; a second call with the same id returns the first record. */
  async record(
    letter: Omit<DeadLetter, 'state' | 'replays' | 'history'>,
  ): Promise<{ deadLetter: DeadLetter; created: boolean }> {
    const full: DeadLetter = {
      ...letter,
      state: 'open',
      replays: 0,
      history: [{ at: letter.deadLetteredAt, action: 'recorded' }],
    };
    try {
      await this.table.createEntity(toEntity(full));
      return { deadLetter: full, created: true };
    } catch (error) {
      if (statusOf(error) === 404) {
        await this.ensureTable();
        return this.record(letter);
      }
      if (statusOf(error) !== 409) throw error;
      const existing = await this.get(letter.id);
      if (!existing) throw error;
      return { deadLetter: existing, created: false };
    }
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const found = await this.#read(id);
    return found ? fromEntity(found) : undefined;
  }

  async #read(id: string): Promise<TableEntityResult<Record<string, unknown>> | undefined> {
    try {
      return await this.table.getEntity<Record<string, unknown>>(PARTITION, id);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Newest first, paged. */
  async list(query: { state?: DeadLetterState; limit?: number; continuationToken?: string }): Promise<{
    deadLetters: DeadLetter[];
    continuationToken?: string;
  }> {
    const limit = Math.min(Math.max(query.limit ?? 20, 1), 100);
    const filter = query.state
      ? odata`PartitionKey eq ${PARTITION} and state eq ${query.state}`
      : odata`PartitionKey eq ${PARTITION}`;
    const pages = this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } }).byPage({
      maxPageSize: limit,
      ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
    });
    try {
      const page = await pages.next();
      if (page.done) return { deadLetters: [] };
      const token = page.value.continuationToken;
      return { deadLetters: page.value.map(fromEntity), ...(token ? { continuationToken: token } : {}) };
    } catch (error) {
      if (statusOf(error) === 404) return { deadLetters: [] };
      throw error;
    }
  }

  /**
   * How many dead letters are open, counting at most `upTo` (the health check only needs to know whether a threshold
   * is reached, and should not scan a table of thousands to find out).
   */
  async countOpen(upTo: number): Promise<number> {
    let count = 0;
    try {
      for await (const page of this.table
        .listEntities({
          queryOptions: { filter: odata`PartitionKey eq ${PARTITION} and state eq ${'open'}`, select: ['RowKey'] },
        })
        .byPage({ maxPageSize: Math.min(upTo, 1000) })) {
        count += page.length;
        if (count >= upTo) return upTo;
      }
    } catch (error) {
      if (statusOf(error) === 404) return 0;
      throw error;
    }
    return count;
  }

  /**
   * Moves an open dead letter to `to` with an ETag-conditional write, so two admins clicking at once act once.
   * Throws DeadLetterConflictError when it is no longer open.
   */
  async transition(id: string, to: 'replayed' | 'discarded', note?: string): Promise<DeadLetter | undefined> {
    const entity = await this.#read(id);
    if (!entity) return undefined;
    const letter = fromEntity(entity);
    if (letter.state !== 'open') throw new DeadLetterConflictError(`dead letter ${id} is already ${letter.state}`);
    const next: DeadLetter = {
      ...letter,
      state: to,
      replays: letter.replays + (to === 'replayed' ? 1 : 0),
      history: [...letter.history, { at: new Date().toISOString(), action: to, ...(note ? { note } : {}) }],
    };
    try {
      await this.table.updateEntity(toEntity(next), 'Replace', { etag: entity.etag });
    } catch (error) {
      if (statusOf(error) === 412) throw new DeadLetterConflictError(`dead letter ${id} changed meanwhile`);
      throw error;
    }
    return next;
  }

  /** Reopens a dead letter whose replay could not be sent (best effort, recorded in its history). */
  async replayFailed(id: string, reason: string): Promise<void> {
    const entity = await this.#read(id);
    if (!entity) return;
    const letter = fromEntity(entity);
    const next: DeadLetter = {
      ...letter,
      state: 'open',
      history: [...letter.history, { at: new Date().toISOString(), action: 'replay-failed', note: reason }],
    };
    await this.table.updateEntity(toEntity(next), 'Replace', { etag: entity.etag });
  }

  /** Notes in a replayed dead letter's history that its work was sent (see `JobRuntime.replay`). */
  async replaySent(id: string): Promise<void> {
    const entity = await this.#read(id);
    if (!entity) return;
    const letter = fromEntity(entity);
    const next: DeadLetter = {
      ...letter,
      history: [...letter.history, { at: new Date().toISOString(), action: 'replay-sent' }],
    };
    await this.table.updateEntity(toEntity(next), 'Replace', { etag: entity.etag });
  }

  /** See `DeadLetterPort.reclaimReplay`: ETag-conditional, so of two callers one takes it over. */
  async reclaimReplay(id: string, markedAt: string): Promise<void> {
    const entity = await this.#read(id);
    const letter = entity ? fromEntity(entity) : undefined;
    const last = letter?.history.at(-1);
    if (!entity || !letter || letter.state !== 'replayed' || last?.action !== 'replayed' || last.at !== markedAt) {
      throw new DeadLetterConflictError(`dead letter ${id} changed meanwhile`);
    }
    const entry = {
      at: new Date().toISOString(),
      action: 'replayed' as const,
      note: 'taken over: its replay was never sent',
    };
    try {
      await this.table.updateEntity(toEntity({ ...letter, history: [...letter.history, entry] }), 'Replace', {
        etag: entity.etag,
      });
    } catch (error) {
      if (statusOf(error) === 412) throw new DeadLetterConflictError(`dead letter ${id} changed meanwhile`);
      throw error;
    }
  }

  /** Deletes dead letters recorded before `before` (retention); returns how many. */
  async purgeOlderThan(before: Date): Promise<number> {
    // Ids sort newest first, so everything older sorts after the id of `before`.
    const boundary = `dl_${(NEWEST_FIRST_BASE - before.getTime()).toString().padStart(13, '0')}`;
    let deleted = 0;
    let batch: Entity[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await this.table.submitTransaction(batch.map((e) => ['delete', e] as ['delete', Entity]));
      deleted += batch.length;
      batch = [];
    };
    for await (const entity of this.table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${PARTITION} and RowKey gt ${boundary}`, select: ['RowKey'] },
    })) {
      batch.push({ partitionKey: PARTITION, rowKey: String(entity.rowKey) });
      if (batch.length === 100) await flush();
    }
    await flush();
    return deleted;
  }
}
