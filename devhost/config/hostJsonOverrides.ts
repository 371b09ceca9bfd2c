/** The prefix of app settings that override host.json on the real host. */
const PREFIX = /^AzureFunctionsJobHost(?:__|:)/i;

type Json = Record<string, unknown>;

/** One app setting applied over host.json: its name and the host.json path it set. */
export interface HostJsonOverride {
  setting: string;
  path: string;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** host.json keys devhost reads, in host.json's spelling: a setting may spell them in any case. */
const KNOWN_KEYS = [
  'version',
  'functionTimeout',
  'functions',
  'extensions',
  'http',
  'routePrefix',
  'queues',
  'batchSize',
  'newBatchThreshold',
  'maxPollingInterval',
  'visibilityTimeout',
  'maxDequeueCount',
  'messageEncoding',
  'blobs',
  'maxDegreeOfParallelism',
  'poisonBlobThreshold',
  'singleton',
  'listenerLockPeriod',
  'listenerLockRecoveryPollingInterval',
  'retry',
  'strategy',
  'maxRetryCount',
  'delayInterval',
  'minimumInterval',
  'maximumInterval',
];

/**
 * The key `segment` names in `container`, compared without case as .NET configuration does: the key already there,
 * else host.json's spelling of a key devhost reads, else the segment as written.
 */
function keyFor(container: Json, segment: string): string {
  const lower = segment.toLowerCase();
  return (
    Object.keys(container).find((key) => key.toLowerCase() === lower) ??
    KNOWN_KEYS.find((key) => key.toLowerCase() === lower) ??
    segment
  );
}

/**
 * Applies the app settings named `AzureFunctionsJobHost__{path}` over a parsed host.json, as the real host does (its
 * configuration reads environment variables with that prefix over the file, and Core Tools puts
 * local.settings.json `Values` in the environment): `__` or `:` separates the path's keys, keys match host.json's
 * without case, an array element is addressed by its index (`AzureFunctionsJobHost__functions__0`), and the value
 * is the setting's string, which the option then converts (`"8"` for an integer, `"00:05:00"` for a duration) as
 * the host's options binding does. Returns a new document; the file's is left as it was.
 */
export function applyHostJsonOverrides(
  doc: Json,
  env: NodeJS.ProcessEnv,
): { doc: Json; overrides: HostJsonOverride[] } {
  const result = structuredClone(doc);
  const overrides: HostJsonOverride[] = [];
  // Sorted, so a longer path lands after (and inside) a shorter one that set an object: the outcome never depends
  // on the environment's order.
  const settings = Object.keys(env)
    .filter((name) => PREFIX.test(name) && env[name] !== undefined)
    .sort();
  for (const setting of settings) {
    const segments = setting.replace(PREFIX, '').split(/__|:/);
    if (segments.some((segment) => segment === '')) continue;
    const applied: string[] = [];
    let container: Json | unknown[] = result;
    for (const [index, segment] of segments.entries()) {
      const last = index === segments.length - 1;
      const value = env[setting] ?? '';
      if (Array.isArray(container)) {
        const position = Number(segment);
        if (!Number.isInteger(position) || position < 0 || position > container.length) break;
        applied.push(segment);
        if (last) {
          container[position] = value;
          overrides.push({ setting, path: applied.join('.') });
          break;
        }
        const next: unknown = container[position];
        container = (isObject(next) || Array.isArray(next) ? next : (container[position] = {})) as Json | unknown[];
        continue;
      }
      const key = keyFor(container, segment);
      applied.push(key);
      if (last) {
        container[key] = value;
        overrides.push({ setting, path: applied.join('.') });
        break;
      }
      const next: unknown = container[key];
      if (isObject(next) || Array.isArray(next)) {
        container = next;
      } else {
        // A key not in host.json yet: an array when the next segment is an index, as in `functions__0`.
        const created: Json | unknown[] = /^\d+$/.test(segments[index + 1] ?? '') ? [] : {};
        container[key] = created;
        container = created;
      }
    }
  }
  return { doc: result, overrides };
}
