import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { testConnectionString } from '../support/storage';
import { templateAppDir } from '../support/templateApp';
import { waitFor } from '../support/wait';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Runs a command to its end, collecting stdout and stderr as lines. */
function run(
  command: string,
  args: string[],
  options: { cwd: string },
): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, lines: text.split('\n').filter(Boolean) }));
  });
}

describe('devhost first run', () => {
  it('is built by npm install itself (the prepare script compiles the CLI the bin shim loads)', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    assert.equal(pkg.bin['devhost'], 'bin/devhost.js');
    assert.match(pkg.scripts['prepare'] ?? '', /^tsc -p \.$/, 'npm install and npm ci build through prepare');
  });

  it('starts with `npx devhost start` from the project folder', async () => {
    const appDir = await templateAppDir();
    const child = spawn('npx', ['--no-install', 'devhost', 'start', '--app', appDir, '--port', '0'], {
      cwd: REPO_ROOT,
      env: { ...process.env, AzureWebJobsStorage: testConnectionString() },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const lines: string[] = [];
    const collect = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n'));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    // 'close': every holder of the output pipes is gone, devhost (npx's child) included, not only npx.
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      await waitFor(`Host started\n${lines.join('\n')}`, () => lines.some((l) => /Host started/.test(l)), 60_000);
      const port = Number(/http:\/\/localhost:(\d+)\//.exec(lines.find((l) => /httpTrigger1:/.test(l)) ?? '')?.[1]);
      const res = await fetch(`http://localhost:${port}/api/httpTrigger1?name=npx`);
      assert.equal(await res.text(), 'Hello, npx!');
    } finally {
      // npx runs devhost as its child: signal the whole group, then wait.
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
    assert.ok(
      lines.some((l) => /Host stopped/.test(l)),
      lines.join('\n'),
    );
  });

  it('says in one line that the CLI is not built, instead of a stack trace', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'devhost-unbuilt-'));
    try {
      await cp(path.join(REPO_ROOT, 'bin', 'devhost.js'), path.join(dir, 'bin', 'devhost.js'));
      const result = await run(process.execPath, [path.join(dir, 'bin', 'devhost.js'), 'start'], { cwd: dir });
      assert.equal(result.code, 1);
      assert.deepEqual(result.lines, [
        'devhost: not built yet: run `npm run build` (npm install runs it through `prepare`)',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports start-up failures in one line: an unknown option, a missing app folder', async () => {
    const cli = path.join(REPO_ROOT, 'bin', 'devhost.js');
    const unknown = await run(process.execPath, [cli, 'start', '--nope'], { cwd: REPO_ROOT });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.lines.length, 1, unknown.lines.join('\n'));
    assert.match(unknown.lines[0] ?? '', /^devhost: Unknown option '--nope'/);

    const missing = await run(process.execPath, [cli, 'start', '--app', path.join(tmpdir(), 'no-such-app-folder')], {
      cwd: REPO_ROOT,
    });
    assert.equal(missing.code, 1);
    assert.equal(missing.lines.length, 1, missing.lines.join('\n'));
    assert.match(missing.lines[0] ?? '', /^devhost: /);
  });
});
