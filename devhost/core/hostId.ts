import { hostname } from 'node:os';

/** The host's `GetStableHash`: `hash = hash * 31 + c`, 32-bit wrap-around, starting at 23. */
function stableHash(text: string): number {
  let hash = 23;
  for (const char of text) hash = (Math.imul(hash, 31) + (char.codePointAt(0) ?? 0)) | 0;
  return hash;
}

/**
 * The host id, as `ScriptHostIdProvider` derives it locally: `<machine name letters and digits>-<|stable hash of the
 * app path|>`, at most 32 characters, lower case. Explicit `AzureFunctionsWebHost__hostid` wins. Every devhost
 * process for the same app folder on one machine gets the same id, so they share locks, receipts and timer status
 * like instances of one app.
 */
export function computeHostId(appDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['AzureFunctionsWebHost__hostid'] ?? env['AzureFunctionsWebHost__hostId'];
  const raw = explicit ?? `${hostname().replace(/[^A-Za-z0-9]/g, '')}-${Math.abs(stableHash(appDir))}`;
  return raw.slice(0, 32).toLowerCase().replace(/-+$/, '');
}

/**
 * The instance id the host logs with the host lock (`Host lock lease acquired by instance ID '…'`) and writes as the
 * lock's `FunctionInstance`: `WEBSITE_INSTANCE_ID` on App Service; locally Core Tools prints a 32-character id,
 * 24 zeros and 8 upper-case hex digits derived from the machine, which this reproduces from the machine name.
 */
export function computeInstanceId(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['WEBSITE_INSTANCE_ID']?.trim();
  if (explicit) return explicit.slice(0, 32);
  return (stableHash(hostname()) >>> 0).toString(16).toUpperCase().padStart(32, '0');
}
