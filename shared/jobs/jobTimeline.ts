import type { JobEvent, NewJobEvent } from './jobTypes';

/**
 * A job's timeline lives inside its status entity, so adding an entry costs no extra storage operation: the
 * entry rides on the status write. When the embedded entries outgrow `MAX_EMBEDDED_CHARS` they are moved, as one
 * chunk, to a spill entity in the job's partition, written in the same entity-group transaction as the status
 * entity — the timeline stays complete, and a job with a normal life never spills.
 */
export const MAX_EMBEDDED_CHARS = 16_000;
const MAX_MESSAGE_CHARS = 4_000;
const MAX_DATA_CHARS = 4_000;
export const SPILL_PREFIX = 'event-';
/** Sorts after every spill row key. */
export const SPILL_END = 'event.';

export function spillRowKey(index: number): string {
  return `${SPILL_PREFIX}${String(index).padStart(6, '0')}`;
}

/** An entry as stored: a bounded message, and data dropped (with a note) when too large for the timeline. */
export function timelineEntry(event: NewJobEvent, now: string): JobEvent {
  const data = event.data && JSON.stringify(event.data).length <= MAX_DATA_CHARS ? event.data : undefined;
  const dropped = event.data !== undefined && data === undefined;
  return {
    at: event.at ?? now,
    kind: event.kind,
    message: `${event.message.slice(0, MAX_MESSAGE_CHARS)}${dropped ? ' (details too large to keep)' : ''}`,
    ...(data ? { data } : {}),
  };
}

/** The embedded entries after adding `added`, and the chunk to move to a spill entity when they no longer fit. */
export function appendToTimeline(
  embedded: readonly JobEvent[],
  added: readonly JobEvent[],
): { embedded: JobEvent[]; spill?: JobEvent[] } {
  if (added.length === 0) return { embedded: [...embedded] };
  const all = [...embedded, ...added];
  if (JSON.stringify(all).length <= MAX_EMBEDDED_CHARS) return { embedded: all };
  // Move what was embedded out as one chunk; the new entries start the next one (each is bounded, so they fit).
  return { embedded: [...added], spill: [...embedded] };
}

export function parseTimeline(text: unknown): JobEvent[] {
  if (typeof text !== 'string' || text === '') return [];
  const value = JSON.parse(text) as unknown;
  return Array.isArray(value) ? (value as JobEvent[]) : [];
}
