import { StartupError } from '../config/errors';
import type { StorageAccount } from './account';

/** How long each service gets to answer at start before devhost gives up. */
const PROBE_TIMEOUT_MS = 5_000;

async function probe(service: string, account: string, call: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    await call(signal);
  } catch (error) {
    const reason = signal.aborted
      ? `no answer within ${PROBE_TIMEOUT_MS}ms`
      : ((error as { code?: string }).code ?? (error as Error).message.split('\n')[0]);
    throw new StartupError(
      `Storage account "${account}" is unreachable (${service} service: ${reason}). Is Azurite running?`,
      { cause: error },
    );
  }
}

/**
 * Asks the blob, queue and table services of an account for their properties (only the services an identity-based
 * connection names).
 */
export async function checkStorageReachable(account: StorageAccount, accountName: string): Promise<void> {
  const { connection } = account;
  const has = (service: 'blob' | 'queue' | 'table') =>
    connection.kind === 'connectionString' || connection.serviceUris[service] !== undefined;
  if (has('blob')) await probe('blob', accountName, (abortSignal) => account.blobs.getProperties({ abortSignal }));
  if (has('queue')) await probe('queue', accountName, (abortSignal) => account.queues.getProperties({ abortSignal }));
  if (has('table')) await probe('table', accountName, (abortSignal) => account.tables.getProperties({ abortSignal }));
}
