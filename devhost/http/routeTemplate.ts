import { StartupError } from '../config/errors';

/** A route parameter constraint such as `{id:int}`, checked as ASP.NET routing checks it. */
const CONSTRAINTS: Record<string, (value: string) => boolean> = {
  int: (v) => /^-?\d+$/.test(v) && Math.abs(Number(v)) <= 2 ** 31,
  long: (v) => /^-?\d+$/.test(v),
  double: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  decimal: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  float: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  bool: (v) => /^(true|false)$/i.test(v),
  alpha: (v) => /^[a-z]+$/i.test(v),
  guid: (v) => /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(v),
  datetime: (v) => !Number.isNaN(Date.parse(v)),
};

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string; optional: boolean; catchAll: boolean; defaultValue?: string; constraints: string[] };

/**
 * Decodes `%XX` sequences in one path segment as Kestrel does: valid ones become their characters, invalid ones
 * (`%zz`, a lone `%`, bytes that are not UTF-8) stay as written, so crafted paths never fail the request.
 */
export function decodePathSegment(segment: string): string {
  return segment.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** A compiled route template (`orders/{id}`, `files/{*path}`, `items/{id:int?}`). */
export class RouteTemplate {
  readonly #segments: Segment[];
  /** Higher sorts first: literal segments beat parameters, parameters beat catch-alls. */
  readonly precedence: number;

  constructor(
    readonly template: string,
    owner: string,
  ) {
    const trimmed = template.replace(/^\/+|\/+$/g, '');
    this.#segments =
      trimmed === '' ? [] : trimmed.split('/').map((part) => RouteTemplate.#parseSegment(part, template, owner));
    this.precedence = this.#segments.reduce((score, s, i) => {
      const weight = s.kind === 'literal' ? 3 : s.catchAll ? 1 : 2;
      return score + weight * 10 ** Math.max(0, 8 - i);
    }, 0);
  }

  static #parseSegment(part: string, template: string, owner: string): Segment {
    const match = /^\{(\*{1,2})?([A-Za-z_][\w]*)((?::[a-z]+(?:\([^)]*\))?)*)(\?)?(?:=([^}]*))?\}$/i.exec(part);
    if (!match) {
      if (part.includes('{') || part.includes('}')) {
        throw new StartupError(
          `${owner}: route "${template}" has a segment "${part}" devhost cannot parse (one parameter per segment)`,
        );
      }
      return { kind: 'literal', text: part.toLowerCase() };
    }
    const [, star, name = '', constraintText = '', optional, defaultValue] = match;
    const constraints = constraintText
      .split(':')
      .filter(Boolean)
      .map((c) => c.replace(/\(.*$/, '').toLowerCase());
    return {
      kind: 'param',
      name,
      optional: optional === '?' || defaultValue !== undefined || Boolean(star),
      catchAll: Boolean(star),
      ...(defaultValue !== undefined ? { defaultValue } : {}),
      constraints,
    };
  }

  /** The route parameters if `path` (without prefix, no leading slash) matches, else undefined. */
  match(path: string): Record<string, string> | undefined {
    const parts = path === '' ? [] : path.split('/');
    const params: Record<string, string> = {};
    let i = 0;
    for (const segment of this.#segments) {
      const part = parts[i];
      if (segment.kind === 'literal') {
        if (part === undefined || decodePathSegment(part).toLowerCase() !== segment.text) return undefined;
        i++;
        continue;
      }
      if (segment.catchAll) {
        const rest = parts.slice(i).map(decodePathSegment).join('/');
        if (rest !== '') params[segment.name] = rest;
        i = parts.length;
        continue;
      }
      if (part === undefined || part === '') {
        if (!segment.optional) return undefined;
        if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
        continue;
      }
      const value = decodePathSegment(part);
      for (const constraint of segment.constraints) {
        const check = CONSTRAINTS[constraint];
        if (check && !check(value)) return undefined;
      }
      params[segment.name] = value;
      i++;
    }
    return i === parts.length ? params : undefined;
  }
}
