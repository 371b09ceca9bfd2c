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

/**
 * The key `segment` names in `container`, compared without case as .NET configuration does: the key already there
 * (the later of two spellings, the one the options read), else the segment as written. The options read keys without
 * case too, so a new key's spelling does not matter.
 */
function keyFor(container: Json, segment: string): string {
  const lower = segment.toLowerCase();
  return Object.keys(container).findLast((key) => key.toLowerCase() === lower) ?? segment;
}

/** An array index as a configuration key spells it. */
const INDEX = /^\d+$/;

/**
 * Sets `value` at `segments` in `doc`, as a configuration key over the file's keys; returns the host.json path it
 * set, or undefined when the host would not see it. Arrays an index was set in are added to `indexed`.
 */
function applyOne(doc: Json, segments: string[], value: string, indexed: Set<unknown[]>): string | undefined {
  const applied: string[] = [];
  let container: Json | unknown[] = doc;
  for (const [index, segment] of segments.entries()) {
    let key: string | number;
    if (Array.isArray(container)) {
      // Any index, not just the next one: the host binds an array from the indexes there are, in order, gaps
      // closed (`functions__5` over a two-element array makes a third element).
      if (!INDEX.test(segment)) return undefined;
      key = Number(segment);
      indexed.add(container);
    } else {
      key = keyFor(container, segment);
    }
    applied.push(String(key));
    const holder = container as Record<string | number, unknown>;
    if (index === segments.length - 1) {
      holder[key] = value;
      return applied.join('.');
    }
    const next = holder[key];
    if (isObject(next) || Array.isArray(next)) {
      container = next;
    } else if (next === undefined) {
      // A key not in host.json yet: an array when the next segment is an index, as in `functions__0`.
      const created: Json | unknown[] = INDEX.test(segments[index + 1] ?? '') ? [] : {};
      holder[key] = created;
      container = created;
    } else {
      // Below a plain value (`functionTimeout__x`): the host's option binds from the value, which the key beneath
      // leaves as it was.
      return undefined;
    }
  }
  return undefined;
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
  // Shorter paths first, so a longer one lands inside an object a shorter one set (whatever the spelling or the
  // environment's order), then by name, so the outcome never depends on the environment's order.
  const settings = Object.keys(env)
    .filter((name) => PREFIX.test(name) && env[name] !== undefined)
    .map((setting) => ({ setting, segments: setting.replace(PREFIX, '').split(/__|:/) }))
    .filter(({ segments }) => !segments.includes(''))
    .sort((a, b) => a.segments.length - b.segments.length || (a.setting < b.setting ? -1 : 1));
  const indexed = new Set<unknown[]>();
  for (const { setting, segments } of settings) {
    const path = applyOne(result, segments, env[setting] ?? '', indexed);
    if (path !== undefined) overrides.push({ setting, path });
  }
  for (const array of indexed) {
    const elements = Object.keys(array).map((index) => array[Number(index)]);
    array.length = 0;
    array.push(...elements);
  }
  return { doc: result, overrides };
}
