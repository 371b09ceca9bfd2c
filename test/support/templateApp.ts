import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const TEMPLATE = path.join(REPO_ROOT, 'test', 'apps', 'template-app');
const TSC = require.resolve('typescript/bin/tsc');

let built: Promise<string> | undefined;

async function build(): Promise<string> {
  const dir = path.join(REPO_ROOT, 'test-output', `template-app-${randomBytes(4).toString('hex')}`);
  await cp(TEMPLATE, dir, { recursive: true, filter: (source) => path.basename(source) !== 'dist' });
  await promisify(execFile)(process.execPath, [TSC, '-p', dir, '--types', 'node']);
  return dir;
}

/**
 * A built copy of test/apps/template-app (Microsoft's v4 TypeScript template), made the way its own `npm run build`
 * makes it: `tsc` with the app's tsconfig. One copy per test file (node's runner gives each file its own process),
 * under test-output/ (inside the repo, so `@azure/functions` resolves from the repo's node_modules), so parallel test
 * files never rebuild files another one is loading. `--types node` only keeps the repo's unrelated `@types/*` packages
 * out of the compile; the app's files are untouched. Removed when the test file's process ends.
 */
export function templateAppDir(): Promise<string> {
  built ??= build().then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  return built;
}
