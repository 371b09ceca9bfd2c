import type { DeadLetter } from './deadLetterTypes';

/**
 * Blob metadata a dead-letter replay writes to retrigger an upload: the job to reopen and the dead letter replayed.
 * Anyone holding an upload SAS can set metadata too (`x-ms-meta-*` comes with write permission), so neither is
 * trusted on its own: see {@link verifiedReplayJobId}.
 */
export const REPLAY_JOB_METADATA = 'jobid';
export const REPLAY_OF_METADATA = 'replayof';

/** The metadata a replay of `letter` sets on its blob. */
export function replayMetadata(letter: Pick<DeadLetter, 'id' | 'jobId'>): Record<string, string> {
  return { [REPLAY_OF_METADATA]: letter.id, ...(letter.jobId ? { [REPLAY_JOB_METADATA]: letter.jobId } : {}) };
}

/**
 * The job a blob version may be bound to as a replay, or undefined. The marker cannot be forged because it is checked
 * against the server's own record: the dead letter it names must have been replayed, must come from this very blob
 * (same container and name), and must name the same job. An uploader can write metadata, not dead letters.
 */
export async function verifiedReplayJobId(
  blob: { container: string; name: string; metadata: Record<string, string> },
  getDeadLetter: (id: string) => Promise<DeadLetter | undefined>,
): Promise<string | undefined> {
  const letterId = blob.metadata[REPLAY_OF_METADATA];
  const jobId = blob.metadata[REPLAY_JOB_METADATA];
  if (!letterId || !jobId || !/^dl_\d{13}_[A-Za-z0-9_-]{16}$/.test(letterId)) return undefined;
  const letter = await getDeadLetter(letterId);
  if (!letter || letter.state !== 'replayed' || letter.jobId !== jobId) return undefined;
  const source = letter.source;
  if (source.kind !== 'blob' || source.container !== blob.container || source.blobName !== blob.name) return undefined;
  return jobId;
}
