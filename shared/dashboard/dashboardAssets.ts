import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** The dashboard's files, served by the app itself: nothing is fetched from outside it. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
};

/** Compiled to dist/shared/dashboard/; the assets ship beside the sources in shared/dashboard/assets/. */
const ASSET_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'dashboard', 'assets');

const cache = new Map<string, Buffer>();

export async function dashboardAsset(name: string): Promise<{ body: Buffer; contentType: string } | undefined> {
  const contentType = ASSETS[name];
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
 * no third-party anything.
 */
export function dashboardCsp(blobEndpoint: string): string {
  const storage = new URL(blobEndpoint).origin;
  return `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self' ${storage}; frame-ancestors 'none'`;
}
