import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

import { waitFor } from './wait';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(REPO_ROOT, 'bin', 'devhost.js');

export interface DevhostProcessOptions {
  /** App folder, relative to the repo root or absolute. */
  app: string;
  env?: Record<string, string>;
  args?: string[];
  /** Wait for "Host started" (default true). */
  waitForStart?: boolean;
}

/**
 * A devhost started as a child process, the way users run it (`devhost start`), with its output captured so tests
 * can wait for log lines. Port 0 lets the OS pick; the real port is read from the `Functions:` listing.
 */
export class DevhostProcess {
  readonly output: string[] = [];
  port = 0;
  #exit: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    // One partial line per stream: devhost writes many lines at once, and a large write reaches us in pieces
    // between which the other stream's data may arrive.
    const lineReader = () => {
      let buffer = '';
      return (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          this.output.push(line);
          if (process.env['DEVHOST_TEST_ECHO']) process.stderr.write(`[devhost ${child.pid}] ${line}\n`);
          const port = /http:\/\/localhost:(\d+)\//.exec(line);
          if (port?.[1] && this.port === 0) this.port = Number(port[1]);
        }
      };
    };
    child.stdout?.on('data', lineReader());
    child.stderr?.on('data', lineReader());
    this.#exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(options: DevhostProcessOptions): Promise<DevhostProcess> {
    const appDir = path.isAbsolute(options.app) ? options.app : path.join(REPO_ROOT, options.app);
    const child = spawn(process.execPath, [CLI, 'start', '--app', appDir, '--port', '0', ...(options.args ?? [])], {
      env: { ...process.env, AzureWebJobsStorage: process.env['TEST_STORAGE_CONNECTION_STRING'] ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const host = new DevhostProcess(child);
    if (options.waitForStart !== false) {
      await Promise.race([
        host.waitForLine(/Host started/, 30_000),
        host.#exit.then((code) => {
          throw new Error(`devhost exited with ${code} before starting:\n${host.output.join('\n')}`);
        }),
      ]);
    }
    return host;
  }

  get exited(): Promise<number | null> {
    return this.#exit;
  }

  url(pathname: string): string {
    return `http://localhost:${this.port}${pathname}`;
  }

  /** Lines matching `pattern` so far. */
  lines(pattern: RegExp): string[] {
    return this.output.filter((line) => pattern.test(line));
  }

  async waitForLine(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      `devhost log line ${pattern}\n--- output so far ---\n${this.output.slice(-30).join('\n')}`,
      () => this.output.find((l) => pattern.test(l)),
      timeoutMs,
    );
  }

  async waitForLines(pattern: RegExp, count: number, timeoutMs = 20_000): Promise<string[]> {
    return waitFor(
      `${count} devhost log lines ${pattern}`,
      () => {
        const found = this.lines(pattern);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
    );
  }

  /** Graceful stop (SIGTERM) and wait for exit. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.#exit;
  }

  /** Hard kill, like a crashed instance. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.#exit;
  }
}
