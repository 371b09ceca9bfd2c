import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { StartupError } from '../config/errors';

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] ?? '';
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await walk(full, root, out);
    else out.push(path.relative(root, full).split(path.sep).join('/'));
  }
}

/** The entry point files `package.json` `main` names (a path or a glob), sorted, as the worker loads them. */
export async function resolveEntryPoints(appDir: string): Promise<string[]> {
  let pkg: { main?: unknown };
  try {
    pkg = JSON.parse(await readFile(path.join(appDir, 'package.json'), 'utf8')) as { main?: unknown };
  } catch (error) {
    throw new StartupError(`package.json not found or not valid JSON in ${appDir}`, { cause: error });
  }
  const main = typeof pkg.main === 'string' && pkg.main !== '' ? pkg.main : 'index.js';
  const pattern = main.replace(/^\.\//, '');
  if (!/[*?]/.test(pattern)) return [path.resolve(appDir, pattern)];
  const files: string[] = [];
  const fixedPrefix = pattern
    .split('/')
    .filter((_, i, parts) => !parts.slice(0, i + 1).some((p) => /[*?]/.test(p)))
    .join('/');
  await walk(path.join(appDir, fixedPrefix), appDir, files);
  const regex = globToRegExp(pattern);
  const matches = files.filter((file) => regex.test(file)).sort();
  if (matches.length === 0) {
    throw new StartupError(`package.json main "${main}" matches no file in ${appDir} (did you build the app?)`);
  }
  return matches.map((file) => path.resolve(appDir, file));
}

/** Loads one entry point: `import()` for ES modules, `require` for CommonJS, as the worker does. */
export async function loadEntryPoint(file: string): Promise<void> {
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
    throw new StartupError(`Worker was unable to load entry point "${file}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}
