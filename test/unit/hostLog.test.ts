import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const LOG_MODULE = path.resolve(__dirname, '..', '..', 'devhost', 'log.js');

/** Runs `script` in a fresh Node with `HostLogger` in scope and stdout a pipe, as under a supervisor or a test. */
function runWithLogger(script: string): { stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ['-e', `const { HostLogger, flushConsole } = require(${JSON.stringify(LOG_MODULE)});\n${script}`],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('host log on the console', () => {
  it('writes the lines of one turn of the event loop in one write, in order', () => {
    const { stdout } = runWithLogger(`
      const writes = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (chunk, ...rest) => { writes.push(String(chunk)); return write(chunk, ...rest); };
      const logger = new HostLogger();
      for (let i = 0; i < 50; i++) logger.info('line ' + i);
      setTimeout(() => { process.stdout.write = write; console.log('writes=' + writes.length); }, 20);
    `);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'writes=1');
    assert.deepEqual(
      lines.slice(0, -1).map((line) => line.replace(/^\[[^\]]+\] /, '')),
      Array.from({ length: 50 }, (_, i) => `line ${i}`),
    );
  });

  it('loses no line when the process exits in the same turn', () => {
    const { stdout, stderr } = runWithLogger(`
      const logger = new HostLogger();
      logger.info('before exit');
      logger.error('an error before exit');
      process.exit(0);
    `);
    assert.match(stdout, /^\[\d{4}-\d\d-\d\dT[^\]]+\] before exit\n$/);
    assert.match(stderr, /\] an error before exit\n$/);
  });

  it('writes held-back lines before output written straight to the console', () => {
    const { stdout } = runWithLogger(`
      const logger = new HostLogger();
      logger.info('host line');
      flushConsole();
      process.stdout.write('app line\\n');
    `);
    assert.deepEqual(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.replace(/^\[[^\]]+\] /, '')),
      ['host line', 'app line'],
    );
  });
});
