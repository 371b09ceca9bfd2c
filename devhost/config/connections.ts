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

export type StorageService = 'blob' | 'queue' | 'table';

/**
 * The common properties of an identity-based connection (`<NAME>__credential`, `__clientId`, ...), which choose the
 * credential the way the host's `ClientFactory.CreateCredential` does (see `identity/storageCredential.ts`).
 */
export interface IdentitySettings {
  credential?: string;
  clientId?: string;
  tenantId?: string;
  clientSecret?: string;
  managedIdentityResourceId?: string;
}

interface ConnectionBase {
  /** The setting (or setting prefix) the connection was read from, e.g. `AzureWebJobsStorage`. */
  setting: string;
  /** The storage account name, for logs; never the key. */
  accountName: string;
  /**
   * Identifies the account for client caching and in-process "written" signals: the connection string itself, or
   * the service URIs and credential of an identity-based connection.
   */
  key: string;
}

/** A storage connection as the host resolves a binding's `connection`: a connection string, or an identity. */
export type StorageConnection =
  | (ConnectionBase & { kind: 'connectionString'; connectionString: string })
  | (ConnectionBase & {
      kind: 'identity';
      /** Service URIs by service; a service the connection does not name is absent. */
      serviceUris: Partial<Record<StorageService, string>>;
      identity: IdentitySettings;
    });

const IDENTITY_PROPERTIES: readonly (keyof IdentitySettings)[] = [
  'credential',
  'clientId',
  'tenantId',
  'clientSecret',
  'managedIdentityResourceId',
];

/** The `<prefix>__<property>` settings, matched case-insensitively as .NET configuration does. */
function sectionOf(prefix: string, env: NodeJS.ProcessEnv): Map<string, { setting: string; value: string }> {
  const section = new Map<string, { setting: string; value: string }>();
  const lowerPrefix = `${prefix.toLowerCase()}__`;
  for (const [setting, value] of Object.entries(env)) {
    if (value === undefined || value.trim() === '') continue;
    if (!setting.toLowerCase().startsWith(lowerPrefix)) continue;
    section.set(setting.slice(lowerPrefix.length).toLowerCase(), { setting, value: value.trim() });
  }
  return section;
}

/** The account name of a service URI: the first DNS label, or the first path segment for IP/localhost (Azurite). */
export function accountNameOfUri(uri: string): string {
  const url = new URL(uri);
  if (/^(\d+\.\d+\.\d+\.\d+|\[.*\]|localhost)$/i.test(url.hostname)) {
    return url.pathname.split('/').find((segment) => segment !== '') ?? 'unknown';
  }
  return url.hostname.split('.')[0] ?? 'unknown';
}

function checkedUri(setting: string, value: string, owner: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StartupError(`${owner}: setting "${setting}" must be a URL, got "${value}"`);
  }
  // The storage SDKs refuse to send a bearer token over plain HTTP; say so at start rather than at the first call.
  if (url.protocol !== 'https:') {
    throw new StartupError(`${owner}: setting "${setting}" must be an https:// URL (tokens are only sent over TLS)`);
  }
  return value.replace(/\/+$/, '');
}

function identityConnection(
  prefix: string,
  section: Map<string, { setting: string; value: string }>,
  isHostStorage: boolean,
  owner: string,
): StorageConnection | undefined {
  const uri = (property: string) => {
    const entry = section.get(property.toLowerCase());
    return entry ? checkedUri(entry.setting, entry.value, owner) : undefined;
  };
  const accountName = section.get('accountname')?.value;
  // `__accountName` is "unique to AzureWebJobsStorage": the host infers the public-cloud endpoints from it.
  const inferred = (service: StorageService) =>
    isHostStorage && accountName ? `https://${accountName}.${service}.core.windows.net` : undefined;
  // `__serviceUri` is the URI of whichever service the binding uses (blob for blob bindings, queue for queue ones).
  const serviceUri = uri('serviceUri');
  const serviceUris: Partial<Record<StorageService, string>> = {};
  const blob = uri('blobServiceUri') ?? serviceUri ?? inferred('blob');
  const queue = uri('queueServiceUri') ?? serviceUri ?? inferred('queue');
  const table = uri('tableServiceUri') ?? inferred('table');
  if (blob) serviceUris.blob = blob;
  if (queue) serviceUris.queue = queue;
  if (table) serviceUris.table = table;
  const first = blob ?? queue ?? table;
  if (!first) return undefined;
  const identity: IdentitySettings = {};
  for (const property of IDENTITY_PROPERTIES) {
    const value = section.get(property.toLowerCase())?.value;
    if (value !== undefined) identity[property] = value;
  }
  return {
    kind: 'identity',
    setting: prefix,
    accountName: accountName ?? accountNameOfUri(first),
    key: `identity|${blob ?? ''}|${queue ?? ''}|${table ?? ''}|${identity.credential ?? ''}|${identity.clientId ?? ''}|${identity.managedIdentityResourceId ?? ''}`,
    serviceUris,
    identity,
  };
}

/**
 * Resolves a binding's `connection` the way the WebJobs SDK does: empty means `Storage`; `AzureWebJobs<name>` wins
 * over `<name>`; a connection string wins over an identity-based section (`<name>__blobServiceUri`,
 * `__queueServiceUri`, `__tableServiceUri`, `__serviceUri`, and for AzureWebJobsStorage `__accountName`, with
 * `__credential`, `__clientId`, ...).
 */
export function resolveConnection(connection: unknown, env: NodeJS.ProcessEnv, owner: string): StorageConnection {
  const name = typeof connection === 'string' && connection.trim() !== '' ? connection.trim() : 'Storage';
  const candidates = [`AzureWebJobs${name}`, name];
  for (const setting of candidates) {
    const value = env[setting];
    if (value !== undefined && value.trim() !== '') {
      const connectionString = expandConnectionString(value);
      return {
        kind: 'connectionString',
        setting,
        accountName: /AccountName=([^;]+)/i.exec(connectionString)?.[1] ?? 'unknown',
        key: connectionString,
        connectionString,
      };
    }
  }
  for (const prefix of candidates) {
    const section = sectionOf(prefix, env);
    if (section.size === 0) continue;
    const found = identityConnection(prefix, section, prefix === 'AzureWebJobsStorage', owner);
    if (found) return found;
    throw new StartupError(
      `${owner}: connection "${prefix}" is identity-based but names no service: set ${prefix}__blobServiceUri, __queueServiceUri, __tableServiceUri or __serviceUri${prefix === 'AzureWebJobsStorage' ? ' (or __accountName)' : ''}`,
    );
  }
  throw new StartupError(
    `${owner}: connection setting "${candidates.join('" or "')}" is missing (set it in local.settings.json Values or the environment, or use ${name}__serviceUri for an identity-based connection)`,
  );
}

/** The URI of one service of an identity-based connection, or a start-up error naming the setting to add. */
export function serviceUriOf(
  connection: Extract<StorageConnection, { kind: 'identity' }>,
  service: StorageService,
): string {
  const uri = connection.serviceUris[service];
  if (uri) return uri;
  throw new StartupError(
    `Connection "${connection.setting}" is used for ${service} storage but has no ${connection.setting}__${service}ServiceUri`,
  );
}
