import { DevhostProcess } from './devhostProcess';
import { uniqueName } from './storage';

/**
 * The bundle's own app (package.json `main`, the compiled functions/) running in devhost with a resource prefix of
 * its own, so each test file sees only its own tables, queues and containers on the shared Azurite.
 */
export async function startApp(
  options: { env?: Record<string, string>; args?: string[]; prefix?: string } = {},
): Promise<{ host: DevhostProcess; prefix: string }> {
  const prefix = options.prefix ?? uniqueName('t').replace(/-/g, '').slice(0, 12);
  const host = await DevhostProcess.start({
    app: '.',
    // Blob CORS is account-wide: only the browser test asks for it, so parallel test apps never rewrite it.
    env: {
      RESOURCE_PREFIX: prefix,
      AzureFunctionsWebHost__hostid: `host-${prefix}`,
      UPLOAD_ALLOWED_ORIGINS: '',
      ...options.env,
    },
    args: options.args ?? [],
  });
  return { host, prefix };
}
