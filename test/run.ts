/**
 * The test runner: starts one Azurite for the whole run (in memory), hands its connection string to every test file
 * through the environment, and runs node's test runner on the compiled tests. Tests isolate themselves with random
 * queue, container and table names.
 *
 * Usage: node dist/test/run.js [unit|integration|e2e|browser|<path fragment>...]
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { startAzurite } from '../devhost/azurite';

async function findTests(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await findTests(full)));
    else if (entry.name.endsWith('.test.js')) files.push(full);
  }
  return files.sort();
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const all = await findTests(__dirname);
  const files = filters.length === 0 ? all : all.filter((f) => filters.some((filter) => f.includes(filter)));
  if (files.length === 0) throw new Error(`no test files match ${filters.join(' ')}`);
  const azurite = await startAzurite();
  const concurrency = process.env['TEST_CONCURRENCY'] ?? '2';
  const child = spawn(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    {
      stdio: 'inherit',
      env: { ...process.env, TEST_STORAGE_CONNECTION_STRING: azurite.connectionString },
    },
  );
  const code = await new Promise<number>((resolve) =>
    child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  await azurite.stop();
  process.exitCode = code;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
