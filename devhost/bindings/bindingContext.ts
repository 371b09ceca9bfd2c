import { resolveConnection } from '../config/connections';
import type { QueuesOptions } from '../config/hostOptions';
import type { Binding } from '../core/functionDefinition';
import type { StorageAccount, StorageAccounts } from '../storage/account';

/** What input and output bindings need from the host. */
export interface BindingServices {
  accounts: StorageAccounts;
  env: NodeJS.ProcessEnv;
  queues: QueuesOptions;
  /** Tells local queue listeners that a message was written, so they poll now (the host's SharedQueueWatcher). */
  notifyQueueWritten(connectionKey: string, queueName: string): void;
  /** Tells the local blob scanner a blob was written, so it looks now instead of at the next scan. */
  notifyBlobWritten(connectionKey: string, container: string): void;
}

export function accountFor(
  services: BindingServices,
  binding: Binding,
  functionName: string,
): { account: StorageAccount; connectionKey: string } {
  const connection = resolveConnection(
    binding.config['connection'],
    services.env,
    `Function "${functionName}" binding "${binding.key}"`,
  );
  return { account: services.accounts.get(connection), connectionKey: connection.key };
}

/** Splits `container/blob/path` at the first slash. */
export function splitBlobPath(blobPath: string): { container: string; blobName: string } {
  const slash = blobPath.indexOf('/');
  if (slash <= 0 || slash === blobPath.length - 1) {
    throw new Error(`blob path "${blobPath}" must be "container/blobName"`);
  }
  return { container: blobPath.slice(0, slash), blobName: blobPath.slice(slash + 1) };
}

/** Queue message text on the wire: base64 by default (Storage Queues extension 5.x), or as is. */
export function encodeQueueMessage(text: string, encoding: QueuesOptions['messageEncoding']): string {
  return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
}
