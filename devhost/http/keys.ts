import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Authorization levels, ordered as the host orders them (`AuthorizationLevel`). */
export type AuthLevel = 'anonymous' | 'user' | 'function' | 'system' | 'admin';

export interface HostKeys {
  master: string;
  /** Host-wide function keys by name (`default` is always there). */
  function: Record<string, string>;
  /** Whether the keys came from settings (else devhost generated them for this run). */
  fromSettings: boolean;
}

/** Settings that hold the keys, read from local.settings.json Values or the environment. */
export const MASTER_KEY_SETTING = 'DEVHOST_MASTER_KEY';
export const FUNCTION_KEY_SETTING = 'DEVHOST_FUNCTION_KEY';

const generateKey = () => randomBytes(30).toString('base64url');

export function loadHostKeys(env: NodeJS.ProcessEnv): HostKeys {
  const master = env[MASTER_KEY_SETTING];
  const fn = env[FUNCTION_KEY_SETTING];
  return {
    master: master || generateKey(),
    function: { default: fn || generateKey() },
    fromSettings: Boolean(master && fn),
  };
}

/** Compares in constant time: hashing first gives equal lengths, so length does not leak either. */
export function keysEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The level a presented key grants: admin for the master key, function for a function key, else none. */
export function levelOfKey(presented: string | undefined, keys: HostKeys): AuthLevel | undefined {
  if (!presented) return undefined;
  let level: AuthLevel | undefined;
  // Check every key (no early return) so timing does not reveal which one matched.
  if (keysEqual(presented, keys.master)) level = 'admin';
  for (const key of Object.values(keys.function)) {
    if (keysEqual(presented, key) && level === undefined) level = 'function';
  }
  return level;
}

/** The host's rule: an admin key satisfies everything; otherwise the key's level must equal the required level. */
export function isAuthorized(required: AuthLevel, granted: AuthLevel | undefined): boolean {
  if (required === 'anonymous') return true;
  if (granted === 'admin') return true;
  return granted === required;
}
