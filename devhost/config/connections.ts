import { StartupError } from './errors';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** The connection string `UseDevelopmentStorage=true` stands for. */
export const DEVELOPMENT_CONNECTION_STRING =
  `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
  `BlobEndpoint=http://127.0.0.1:10000/${DEV_ACCOUNT};QueueEndpoint=http://127.0.0.1:10001/${DEV_ACCOUNT};` +
  `TableEndpoint=http://127.0.0.1:10002/${DEV_ACCOUNT};`;

/** Expands the emulator shorthand; the storage SDKs do not all understand it. */
export function expandConnectionString(value: string): string {
  return /^\s*UseDevelopmentStorage\s*=\s*true\s*;?\s*$/i.test(value) ? DEVELOPMENT_CONNECTION_STRING : value;
}

/**
 * Resolves a binding's `connection` to a connection string the way the WebJobs SDK does: empty means `Storage`;
 * `AzureWebJobs<name>` wins over `<name>`. Identity-based connections (`<name>__serviceUri`) need Azure AD, which
 * Azurite does not offer, so they are refused with a clear message.
 */
export function resolveConnectionString(connection: unknown, env: NodeJS.ProcessEnv, owner: string): string {
  const name = typeof connection === 'string' && connection.trim() !== '' ? connection.trim() : 'Storage';
  const candidates = [`AzureWebJobs${name}`, name];
  for (const key of candidates) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') return expandConnectionString(value);
  }
  if (env[`${name}__serviceUri`] || env[`${name}__queueServiceUri`] || env[`${name}__blobServiceUri`]) {
    throw new StartupError(
      `${owner}: connection "${name}" is identity-based; devhost supports connection strings only`,
    );
  }
  throw new StartupError(
    `${owner}: connection setting "${candidates.join('" or "')}" is missing (set it in local.settings.json Values or the environment)`,
  );
}

/** The account name in a connection string, for logs (never log the string itself: it holds the key). */
export function accountNameOf(connectionString: string): string {
  return /AccountName=([^;]+)/i.exec(connectionString)?.[1] ?? 'unknown';
}
