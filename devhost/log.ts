import type { RpcLogLevel } from './core/rpcTypes';

/** Secrets that must never reach a log line, whatever a user or library prints. */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/(AccountKey=)[^;\s"']+/gi, '$1[redacted]'],
  [/([?&]sig=)[^&\s"']+/gi, '$1[redacted]'],
  [/(SharedAccessSignature=)[^;\s"']+/gi, '$1[redacted]'],
  [/((?:x-functions-key|code)["']?\s*[:=]\s*["']?)[A-Za-z0-9_\-=]{16,}/gi, '$1[redacted]'],
];

export function redactSecrets(text: string): string {
  let result = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

const LEVEL_RANK: Record<RpcLogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

export interface LogSink {
  write(line: string, level: RpcLogLevel): void;
  /** Writes out whatever the sink holds back. */
  flush?(): void;
}

/**
 * Standard output and error, with the lines of one turn of the event loop written together. On Linux a write to a
 * pipe or terminal is a synchronous system call, and the host logs four lines per invocation: one call per line
 * cost measurable CPU at hundreds of invocations a second. Lines keep their order, across the two streams too; what
 * is held back is written at the end of the turn, before user code runs (`flush`) and when the process exits, so
 * only a kill -9 can lose it — the real host's console logger queues its lines as well.
 *
 * Anything else written to the two streams (an app's own `console.log`, right after a `context.log` that was held
 * back) first writes out what is held back: on the host both reach the console through the one logger queue, in the
 * order the host got them, and a `context.log` line must not come out after a `console.log` the app wrote later.
 */
class ConsoleSink implements LogSink {
  /** Consecutive lines for the same stream, oldest first. */
  #pending: { stream: NodeJS.WriteStream; text: string }[] = [];
  #scheduled = false;
  #flushing = false;
  #watching = false;

  write(line: string, level: RpcLogLevel): void {
    const stream = LEVEL_RANK[level] >= LEVEL_RANK.warning ? process.stderr : process.stdout;
    if (!this.#watching) this.#watchOtherWrites();
    const last = this.#pending[this.#pending.length - 1];
    if (last?.stream === stream) last.text += `${line}\n`;
    else this.#pending.push({ stream, text: `${line}\n` });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    // A write of ours goes through the watched stream.write, which calls back here.
    if (this.#flushing) return;
    this.#scheduled = false;
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#flushing = true;
    try {
      for (const { stream, text } of pending) stream.write(text);
    } finally {
      this.#flushing = false;
    }
  }

  /** Makes every other write to stdout or stderr write out the held-back lines first (once, on first use). */
  #watchOtherWrites(): void {
    this.#watching = true;
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
      stream.write = (...args: unknown[]): boolean => {
        this.flush();
        return write(...args);
      };
    }
  }
}

const consoleSink = new ConsoleSink();
process.once('exit', () => consoleSink.flush());

/** Writes out the console lines held back this turn (before a message written straight to the console). */
export function flushConsole(): void {
  consoleSink.flush();
}

/**
 * The categories of the host's own lines, as the host names them (the WebJobs SDK's `LogCategories`, the Functions
 * host's `ScriptConstants`), so that host.json `logging.logLevel` filters devhost's lines as it filters the host's.
 * The table in devhost/README.md says which line goes where.
 */
export const HostCategory = {
  /** Lines of the host itself: the host lock, stop, and devhost's own lines that have no counterpart. */
  general: 'Host.General',
  /** Start-up and indexing: `Host started`, `No job functions found.`, function indexing warnings. */
  startup: 'Host.Startup',
  /** Singleton locks (the timer's listener lock). */
  singleton: 'Host.Singleton',
  /** A trigger's listener: `Host.Triggers.Timer`, `Host.Triggers.Queue`, `Host.Triggers.Blob`. */
  trigger: (type: 'Timer' | 'Queue' | 'Blob') => `Host.Triggers.${type}`,
  /** The host's channel to one language worker process, and that worker's own (system) lines. */
  worker: (workerId: string) => `Worker.LanguageWorkerChannel.node.${workerId}`,
} as const;

/**
 * host.json `logging.logLevel`: the least level shown per category. As in .NET's logger filter, the rule for a
 * category is the longest key it starts with (without case), else `default`, else Information.
 */
export class LogLevelRules {
  readonly #rules: [prefix: string, level: RpcLogLevel][];
  readonly #fallback: RpcLogLevel;
  readonly #cache = new Map<string, RpcLogLevel>();

  constructor(levels: Readonly<Record<string, RpcLogLevel>> = {}) {
    const entries = Object.entries(levels);
    this.#fallback = entries.find(([key]) => key.toLowerCase() === 'default')?.[1] ?? 'information';
    this.#rules = entries
      .filter(([key]) => key.toLowerCase() !== 'default')
      .map(([key, level]): [string, RpcLogLevel] => [key.toLowerCase(), level])
      .sort((a, b) => b[0].length - a[0].length);
  }

  /** The least level shown for `category`. */
  minimumFor(category: string): RpcLogLevel {
    let level = this.#cache.get(category);
    if (level === undefined) {
      const lower = category.toLowerCase();
      level = this.#rules.find(([prefix]) => lower.startsWith(prefix))?.[1] ?? this.#fallback;
      this.#cache.set(category, level);
    }
    return level;
  }
}

/**
 * Host log in Core Tools' format (`[timestamp] message`), so people and tools that read `func start` output can
 * read devhost's too. Lines are filtered per category by host.json's `logging.logLevel` once the host has read it
 * (`useLevels`); `--verbose` shows debug lines whatever host.json says.
 */
export class HostLogger {
  /** Shared with the loggers `forCategory` makes, so the levels host.json sets later apply to them too. */
  #rules: { levels: LogLevelRules } = { levels: new LogLevelRules() };
  #category: string = HostCategory.general;

  constructor(
    private readonly minLevel: RpcLogLevel = 'information',
    private readonly sink: LogSink = consoleSink,
  ) {}

  /** Applies host.json's `logging.logLevel` (to this logger and every one made from it). */
  useLevels(levels: LogLevelRules): void {
    this.#rules.levels = levels;
  }

  /**
   * The same log, writing lines of `category` unless a call names another: what the host's components get from
   * `ILoggerFactory.CreateLogger(category)`.
   */
  forCategory(category: string): HostLogger {
    const logger = new HostLogger(this.minLevel, this.sink);
    logger.#rules = this.#rules;
    logger.#category = category;
    return logger;
  }

  /** Writes out held-back lines now: before user code runs, so its own console output comes after them. */
  flush(): void {
    this.sink.flush?.();
  }

  /** Whether a line of `level` in `category` is shown. */
  shows(level: RpcLogLevel, category: string = this.#category): boolean {
    if (level === 'none') return false;
    const rule = this.#rules.levels.minimumFor(category);
    const least = LEVEL_RANK[this.minLevel] < LEVEL_RANK.information ? this.minLevel : rule;
    return LEVEL_RANK[level] >= LEVEL_RANK[least];
  }

  log(level: RpcLogLevel, message: string, category: string = this.#category): void {
    if (!this.shows(level, category)) return;
    const text = redactSecrets(message);
    for (const line of text.split('\n')) this.sink.write(`[${new Date().toISOString()}] ${line}`, level);
  }

  /** Lines without a timestamp (the `Functions:` listing at start, which Core Tools prints itself). */
  plain(message: string): void {
    this.sink.write(redactSecrets(message), 'information');
  }

  debug(message: string, category?: string): void {
    this.log('debug', message, category);
  }
  info(message: string, category?: string): void {
    this.log('information', message, category);
  }
  warn(message: string, category?: string): void {
    this.log('warning', message, category);
  }
  error(message: string, category?: string): void {
    this.log('error', message, category);
  }
}

/** Normalises anything thrown into an Error. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  try {
    return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
  } catch {
    return new Error(String(thrown));
  }
}
