/** The common properties of an identity-based connection, which choose the credential (storageCredential.ts). */
export interface IdentitySettings {
  credential?: string;
  clientId?: string;
  tenantId?: string;
  clientSecret?: string;
  managedIdentityResourceId?: string;
}

/**
 * How the app reaches its storage account: a connection string, or an identity with the URI of each service it uses
 * (blob, queue, table) — the host's identity-based connection, as Flex Consumption templates deploy it.
 */
export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      queueServiceUri: string;
      tableServiceUri: string;
      identity: IdentitySettings;
    };

const IDENTITY_PROPERTIES: readonly (keyof IdentitySettings)[] = [
  'credential',
  'clientId',
  'tenantId',
  'clientSecret',
  'managedIdentityResourceId',
];

export type ParsedStorageConnection = { ok: true; connection: StorageConnection } | { ok: false; problems: string[] };

/**
 * Reads connection `name` from the settings as the host does: `<name>` as a connection string wins; otherwise the
 * `<name>__*` section: `__blobServiceUri` (or `__serviceUri`), `__queueServiceUri`, `__tableServiceUri`, each
 * inferred from `__accountName` (`https://<account>.<service>.core.windows.net`) when not given, plus
 * `__credential`, `__clientId`, ... Setting names match case-insensitively, as in .NET configuration.
 */
export function parseStorageConnection(name: string, env: NodeJS.ProcessEnv): ParsedStorageConnection {
  const connectionString = env[name]?.trim();
  if (connectionString) return { ok: true, connection: { kind: 'connectionString', connectionString } };
  const section = new Map<string, { setting: string; value: string }>();
  const prefix = `${name.toLowerCase()}__`;
  for (const [setting, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '' && setting.toLowerCase().startsWith(prefix)) {
      section.set(setting.slice(prefix.length).toLowerCase(), { setting, value: value.trim() });
    }
  }
  if (section.size === 0) {
    return {
      ok: false,
      problems: [
        `${name} is required: a storage connection string, or ${name}__accountName (or ${name}__blobServiceUri, __queueServiceUri and __tableServiceUri) for an identity-based connection`,
      ],
    };
  }
  const problems: string[] = [];
  const accountName = section.get('accountname')?.value;
  const uriOf = (service: 'blob' | 'queue' | 'table', ...properties: string[]): string => {
    for (const property of properties) {
      const entry = section.get(property.toLowerCase());
      if (!entry) continue;
      let url: URL | undefined;
      try {
        url = new URL(entry.value);
      } catch {
        url = undefined;
      }
      // Storage SDKs send bearer tokens over TLS only; say so now rather than at the first call.
      if (url?.protocol !== 'https:') problems.push(`${entry.setting} must be an https:// URL`);
      return entry.value.replace(/\/+$/, '');
    }
    if (accountName) return `https://${accountName}.${service}.core.windows.net`;
    problems.push(
      `${name}__${service}ServiceUri (or ${name}__accountName) is required for an identity-based connection`,
    );
    return '';
  };
  const blobServiceUri = uriOf('blob', 'blobServiceUri', 'serviceUri');
  const queueServiceUri = uriOf('queue', 'queueServiceUri');
  const tableServiceUri = uriOf('table', 'tableServiceUri');
  const identity: IdentitySettings = {};
  for (const property of IDENTITY_PROPERTIES) {
    const value = section.get(property.toLowerCase())?.value;
    if (value !== undefined) identity[property] = value;
  }
  const credential = identity.credential?.toLowerCase();
  if (credential !== undefined && credential !== 'managedidentity' && credential !== 'workloadidentity') {
    problems.push(
      `${name}__credential must be managedidentity or workloadidentity (or unset for DefaultAzureCredential)`,
    );
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, connection: { kind: 'identity', blobServiceUri, queueServiceUri, tableServiceUri, identity } };
}
