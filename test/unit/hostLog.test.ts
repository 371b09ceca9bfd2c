import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { HostCategory, HostLogger, LogLevelRules } from '../../devhost/log';

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

/** As `runWithLogger`, with stdout and stderr one file, as `2>&1` makes them: what a reader of both sees, in order. */
function runWithLoggerMerged(script: string): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'host-log-'));
  const file = path.join(dir, 'out.txt');
  const fd = openSync(file, 'w');
  try {
    const result = spawnSync(
      process.execPath,
      ['-e', `const { HostLogger } = require(${JSON.stringify(LOG_MODULE)});\n${script}`],
      { stdio: ['ignore', fd, fd], timeout: 20_000 },
    );
    assert.equal(result.status, 0, readFileSync(file, 'utf8'));
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^\[[^\]]+\] /, ''));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
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

  it("keeps host lines and the app's own console output in the order they were written, on both streams", () => {
    // As an invocation does: context.log (a host line) then console.log/console.error in the same turn.
    const lines = runWithLoggerMerged(`
      const logger = new HostLogger();
      logger.info('host line 1');
      console.log('app line 1');
      logger.error('host error');
      console.error('app error');
      logger.info('host line 2');
      setTimeout(() => { logger.warn('host warning'); console.log('app line 2'); }, 5);
    `);
    assert.deepEqual(lines, [
      'host line 1',
      'app line 1',
      'host error',
      'app error',
      'host line 2',
      'host warning',
      'app line 2',
    ]);
  });
});

describe('log levels from host.json logging.logLevel', () => {
  it('takes the longest category prefix, without case, then default, then Information', () => {
    const rules = new LogLevelRules({ default: 'warning', Function: 'error', 'function.keep.USER': 'debug' });
    assert.equal(rules.minimumFor('Function.keep.User'), 'debug');
    assert.equal(rules.minimumFor('Function.keep'), 'error');
    assert.equal(rules.minimumFor('Function.other.User'), 'error');
    assert.equal(rules.minimumFor('Host.General'), 'warning');
    assert.equal(new LogLevelRules({}).minimumFor('Host.General'), 'information');
  });

  it('filters host and function lines by their category; --verbose shows debug lines whatever host.json says', () => {
    const seen: string[] = [];
    const sink = { write: (line: string) => seen.push(line.replace(/^\[[^\]]+\] /, '')) };
    const logger = new HostLogger('information', sink);
    logger.useLevels(new LogLevelRules({ Function: 'warning', 'Function.keep.User': 'information' }));
    logger.info("Executing 'Functions.keep'", 'Function.keep');
    logger.info('kept user line', 'Function.keep.User');
    logger.info('dropped user line', 'Function.other.User');
    logger.error("Executed 'Functions.other' (Failed)", 'Function.other');
    logger.info('Host started');
    assert.deepEqual(seen, ['kept user line', "Executed 'Functions.other' (Failed)", 'Host started']);

    const verbose: string[] = [];
    const verboseLogger = new HostLogger('debug', { write: (line: string) => verbose.push(line) });
    verboseLogger.useLevels(new LogLevelRules({ default: 'none' }));
    verboseLogger.debug('a debug line');
    assert.equal(verbose.length, 1);
  });

  it("writes a component's lines in its category, with the levels host.json sets after the logger was made", () => {
    const seen: string[] = [];
    const logger = new HostLogger('information', {
      write: (line: string) => seen.push(line.replace(/^\[[^\]]+\] /, '')),
    });
    const timer = logger.forCategory(HostCategory.trigger('Timer'));
    const queue = logger.forCategory(HostCategory.trigger('Queue'));
    const startup = logger.forCategory(HostCategory.startup);
    logger.useLevels(new LogLevelRules({ 'Host.Triggers.Timer': 'warning', 'host.startup': 'none' }));
    timer.info('The next 5 occurrences');
    timer.warn('timer warning');
    queue.info('queue line');
    startup.warn('Host started');
    logger.info('Host lock lease acquired');
    timer.info('a function line', 'Function.tick');
    assert.deepEqual(seen, ['timer warning', 'queue line', 'Host lock lease acquired', 'a function line']);
  });
});
