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
}

const consoleSink: LogSink = {
  write(line, level) {
    if (LEVEL_RANK[level] >= LEVEL_RANK.warning) process.stderr.write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  },
};

/**
 * Host log in Core Tools' format (`[timestamp] message`), so people and tools that read `func start` output can
 * read devhost's too.
 */
export class HostLogger {
  constructor(
    private readonly minLevel: RpcLogLevel = 'information',
    private readonly sink: LogSink = consoleSink,
  ) {}

  log(level: RpcLogLevel, message: string): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.minLevel] || level === 'none') return;
    const text = redactSecrets(message);
    for (const line of text.split('\n')) this.sink.write(`[${new Date().toISOString()}] ${line}`, level);
  }

  /** Lines without a timestamp (the `Functions:` listing at start). */
  plain(message: string): void {
    this.sink.write(redactSecrets(message), 'information');
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('information', message);
  }
  warn(message: string): void {
    this.log('warning', message);
  }
  error(message: string): void {
    this.log('error', message);
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
