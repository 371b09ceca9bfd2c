import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { StartupError } from './errors';

/** The parts of local.settings.json devhost uses. */
export interface LocalSettings {
  values: Record<string, string>;
  localHttpPort: number | undefined;
}

/**
 * Reads `<appDir>/local.settings.json` (optional, as with Core Tools). Encrypted files are refused: their values are
 * DPAPI-protected and only Core Tools on Windows can read them. Core Tools treats a missing `IsEncrypted` as true;
 * devhost reads such a file as plain text, since it cannot decrypt anyway, and the values would be unreadable otherwise.
 */
export async function loadLocalSettings(appDir: string): Promise<LocalSettings> {
  const file = path.join(appDir, 'local.settings.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { values: {}, localHttpPort: undefined };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new StartupError(`local.settings.json is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new StartupError('local.settings.json must be a JSON object');
  const root = doc as Record<string, unknown>;
  if (root['IsEncrypted'] === true) {
    throw new StartupError(
      'local.settings.json is encrypted (IsEncrypted: true); devhost reads only plain-text settings',
    );
  }
  const values: Record<string, string> = {};
  const rawValues = root['Values'] ?? {};
  if (typeof rawValues !== 'object' || rawValues === null)
    throw new StartupError('local.settings.json: Values must be an object');
  for (const [key, value] of Object.entries(rawValues)) {
    if (typeof value !== 'string') {
      throw new StartupError(`local.settings.json: Values.${key} must be a string`);
    }
    values[key] = value;
  }
  const host = root['Host'] as Record<string, unknown> | undefined;
  const port = host?.['LocalHttpPort'];
  return { values, localHttpPort: typeof port === 'number' ? port : undefined };
}

/** Copies settings into `env` without overriding what is already set there, as Core Tools does. */
export function applySettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined) env[key] = value;
  }
}
