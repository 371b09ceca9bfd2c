import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import fastGlob from 'fast-glob';

import { StartupError } from '../config/errors';

/** What package.json `main` resolved to. */
export interface EntryPoints {
  /** The pattern as written in package.json (`index.js` when `main` is missing, as Node would). */
  pattern: string;
  /** Absolute paths of the matching files, in the glob library's order (the worker loads them in that order). */
  files: string[];
  /**
   * Set when nothing matched: the worker's message. The worker only logs it (the host then finds no functions),
   * so devhost warns and goes on too.
   */
  warning: string | undefined;
}

/**
 * globby's `expandDirectories`: a pattern naming a folder stands for every file below it. fast-glob (the engine
 * globby runs on) does not do this by itself.
 */
async function expandDirectory(pattern: string, appDir: string): Promise<string> {
  if (pattern.startsWith('!') || fastGlob.isDynamicPattern(pattern)) return pattern;
  const info = await stat(path.resolve(appDir, pattern)).catch(() => undefined);
  return info?.isDirectory() ? `${pattern.replace(/\/+$/, '')}/**` : pattern;
}

/**
 * The entry point files `package.json` `main` names, expanded as the Node worker does (`globby(main, { cwd: appDir })`):
 * braces, `**`, extglobs, several patterns and `!` negations, relative to the app folder, dot files skipped.
 */
export async function resolveEntryPoints(appDir: string): Promise<EntryPoints> {
  let pkg: { main?: unknown };
  try {
    pkg = JSON.parse(await readFile(path.join(appDir, 'package.json'), 'utf8')) as { main?: unknown };
  } catch (error) {
    throw new StartupError(`package.json not found or not valid JSON in ${appDir}`, { cause: error });
  }
  const main = pkg.main;
  let patterns: string[];
  if (main === undefined || main === '') patterns = ['index.js'];
  else if (typeof main === 'string') patterns = [main];
  else if (Array.isArray(main) && main.every((p): p is string => typeof p === 'string')) patterns = main;
  else throw new StartupError(`package.json "main" must be a string (a path or a glob), got ${JSON.stringify(main)}`);

  const expanded = await Promise.all(patterns.map((p) => expandDirectory(p, appDir)));
  const matches = await fastGlob(expanded, { cwd: appDir, onlyFiles: true, unique: true, followSymbolicLinks: true });
  const pattern = patterns.join(', ');
  let warning: string | undefined;
  if (matches.length === 0) {
    const magic = patterns.some((p) => fastGlob.isDynamicPattern(p));
    const reason = magic ? 'Found zero files matching the supplied pattern' : 'File does not exist';
    warning = `Worker was unable to load entry point "${pattern}": ${reason}`;
  }
  return { pattern, files: matches.map((file) => path.resolve(appDir, file)), warning };
}

/**
 * Loads one entry point: `import()` for ES modules, `require` for CommonJS, as the worker does. A file that fails to
 * load stops the start (the worker on Node 20+ blocks on entry point errors), named relative to the app folder as the
 * worker names it.
 */
export async function loadEntryPoint(file: string, appDir: string): Promise<void> {
  try {
    if (file.endsWith('.mjs')) {
      await import(pathToFileURL(file).href);
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(file);
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_REQUIRE_ESM') {
      await import(pathToFileURL(file).href);
      return;
    }
    const name = path.relative(appDir, file).split(path.sep).join('/');
    const reason = ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
    throw new StartupError(`Worker was unable to load entry point "${name}": ${reason}`, {
      cause: error,
    });
  }
}
