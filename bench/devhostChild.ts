import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'devhost.js');

/**
 * A devhost started as users start it, with its log lines kept for the benchmark to read. `BENCH_DEVHOST_NODE_ARGS`
 * adds Node flags to the child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where its time goes.
 */
export class DevhostChild {
  readonly lines: string[] = [];
  readonly #counts = new Map<RegExp, { lines: number; matches: number }>();
  readonly #child: ChildProcess;
  readonly #exit: Promise<void>;

  constructor(appDir: string, env: Record<string, string>) {
    this.#child = spawn(
      process.execPath,
      [
        ...(process.env['BENCH_DEVHOST_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
        CLI,
        'start',
        '--app',
        appDir,
        '--port',
        '0',
      ],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    // One partial line per stream: a large write reaches us in pieces, the other stream's data maybe in between.
    const lineReader = () => {
      let buffer = '';
      return (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const parts = buffer.split('\n');
        buffer = parts.pop() ?? '';
        this.lines.push(...parts);
      };
    };
    this.#child.stdout?.on('data', lineReader());
    this.#child.stderr?.on('data', lineReader());
    this.#exit = new Promise((resolve) => this.#child.once('exit', () => resolve()));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * Lines matching `pattern` so far. Counted on from where the last call for the same pattern stopped: a benchmark
   * polls this every 20 ms over thousands of lines, and rescanning them all would put its own CPU in the figures.
   */
  count(pattern: RegExp): number {
    const counted = this.#counts.get(pattern) ?? { lines: 0, matches: 0 };
    for (let i = counted.lines; i < this.lines.length; i++) if (pattern.test(this.lines[i] ?? '')) counted.matches++;
    counted.lines = this.lines.length;
    this.#counts.set(pattern, counted);
    return counted.matches;
  }

  /** Timestamps (ms since epoch) of the log lines matching `pattern`, from the `[ISO time]` prefix. */
  timestamps(pattern: RegExp): number[] {
    return this.lines.filter((l) => pattern.test(l)).map((l) => Date.parse(l.slice(1, 25)));
  }

  async waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline)
        throw new Error(`devhost: timed out waiting for ${what}\n${this.lines.slice(-20).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends `signal` to the host while it runs (SIGSTOP and SIGCONT pause it between a benchmark's batches). */
  signal(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  async stop(): Promise<void> {
    this.#child.kill('SIGTERM');
    await this.#exit;
  }
}
