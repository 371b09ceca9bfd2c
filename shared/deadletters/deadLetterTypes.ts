/** The dead-letter record's shapes, apart from its store so the job runtime can name them without importing storage. */

/** Where a dead letter came from: a queue (replay re-sends the body) or a blob (replay re-triggers the blob). */
export type DeadLetterSource =
  | { kind: 'queue'; queue: string }
  | { kind: 'blob'; container: string; blobName: string; etag: string; functionId: string };

export type DeadLetterState = 'open' | 'replayed' | 'discarded';

export interface DeadLetterHistoryEntry {
  at: string;
  action: 'recorded' | 'replayed' | 'replay-sent' | 'discarded' | 'replay-failed';
  note?: string;
}

export interface DeadLetter {
  id: string;
  source: DeadLetterSource;
  /** The poisoned message exactly as it was stored (base64 when the queue encodes), so a replay is byte-identical. */
  body: string;
  /** How often the message was delivered before it was moved aside. */
  dequeueCount: number;
  error: { code: string; message: string };
  jobId?: string;
  deadLetteredAt: string;
  state: DeadLetterState;
  replays: number;
  history: DeadLetterHistoryEntry[];
}

/** The dead letter is no longer open (replayed or discarded meanwhile). */
export class DeadLetterConflictError extends Error {
  override readonly name = 'DeadLetterConflictError';
  readonly code = 'DEADLETTER_CONFLICT';
}
