import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The dashboard's files, served by the app itself: nothing is fetched from outside it. */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['style.css', 'text/css; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
]);

/** Compiled to dist/shared/dashboard/; the assets ship beside the sources in shared/dashboard/assets/. */
const ASSET_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'dashboard', 'assets');

const cache = new Map<string, Buffer>();

/**
 * One of the dashboard's files by name, or undefined. A Map, not an object literal, so `constructor`, `__proto__` or
 * `toString` find nothing instead of an inherited property.
 */
export async function dashboardAsset(name: string): Promise<{ body: Buffer; contentType: string } | undefined> {
  const contentType = ASSETS.get(name);
  if (!contentType) return undefined;
  let body = cache.get(name);
  if (!body) {
    body = await readFile(path.join(ASSET_DIR, name));
    cache.set(name, body);
  }
  return { body, contentType };
}

/**
 * Only the app's own origin, plus the storage account's blob endpoint for the direct SAS upload: no inline script,
 * no third-party anything; no `<base>` to re-point relative URLs, and forms submit only to the app.
 */
export function dashboardCsp(blobEndpoint: string): string {
  const storage = new URL(blobEndpoint).origin;
  return `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self' ${storage}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
}
