/** Raised for a blob trigger `path` the host would refuse at start-up. */
export class BlobPathError extends Error {
  override readonly name = 'BlobPathError';
}

/**
 * A blob trigger path (`container[/pattern]`) as the host reads it (`BlobPathSource`): the container is fixed; the
 * rest is matched against the whole blob name, `{param}` captures greedily (across `/` too) and matching is
 * case-sensitive. `{{` and `}}` are literal braces.
 */
export class BlobPathPattern {
  readonly container: string;
  readonly parameterNames: readonly string[];
  readonly #regex: RegExp | undefined;
  readonly #exact: string | undefined;

  private constructor(container: string, regex: RegExp | undefined, exact: string | undefined, names: string[]) {
    this.container = container;
    this.#regex = regex;
    this.#exact = exact;
    this.parameterNames = names;
  }

  static parse(path: string): BlobPathPattern {
    const slash = path.indexOf('/');
    const container = slash < 0 ? path : path.slice(0, slash);
    const pattern = slash < 0 ? '' : path.slice(slash + 1);
    if (container === '') throw new BlobPathError(`blob path "${path}" must start with a container name`);
    if (/[{}\\]/.test(container)) {
      throw new BlobPathError(`blob path "${path}": container paths cannot contain {resolve} tokens or '\\'`);
    }
    if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(container) && container !== '$root') {
      throw new BlobPathError(
        `blob path "${path}": container "${container}" must be 3-63 lower-case letters, digits and single dashes`,
      );
    }
    if (pattern === '') return new BlobPathPattern(container, undefined, undefined, []);
    const names: string[] = [];
    let source = '^';
    let literal = '';
    let plain = '';
    const flush = () => {
      source += literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      literal = '';
    };
    for (let i = 0; i < pattern.length; i++) {
      const char = pattern[i] ?? '';
      const next = pattern[i + 1];
      if ((char === '{' && next === '{') || (char === '}' && next === '}')) {
        literal += char;
        plain += char;
        i++;
        continue;
      }
      if (char === '}') throw new BlobPathError(`blob path "${path}" has an unmatched '}'`);
      if (char !== '{') {
        literal += char;
        plain += char;
        continue;
      }
      const end = pattern.indexOf('}', i);
      if (end < 0) throw new BlobPathError(`blob path "${path}" has an unmatched '{'`);
      const name = pattern.slice(i + 1, end);
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
        throw new BlobPathError(`blob path "${path}": "{${name}}" is not a valid parameter name`);
      }
      if (names.some((known) => known.toLowerCase() === name.toLowerCase())) {
        throw new BlobPathError(`blob path "${path}" names parameter "${name}" twice`);
      }
      flush();
      names.push(name);
      source += '(.*)';
      i = end;
    }
    flush();
    if (names.length === 0) return new BlobPathPattern(container, undefined, plain, []);
    return new BlobPathPattern(container, new RegExp(`${source}$`, 's'), undefined, names);
  }

  /** The captured parameters when the blob matches, undefined when it does not. */
  match(blobName: string): Record<string, string> | undefined {
    if (this.#exact !== undefined) return blobName === this.#exact ? {} : undefined;
    if (!this.#regex) return {};
    const found = this.#regex.exec(blobName);
    if (!found) return undefined;
    const params: Record<string, string> = {};
    this.parameterNames.forEach((name, index) => {
      params[name] = found[index + 1] ?? '';
    });
    return params;
  }
}
