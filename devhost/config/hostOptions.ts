import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';

import type { RpcLogLevel } from '../core/rpcTypes';
import { parseTimeSpanMs } from './duration';
import { HostJsonError, StartupError } from './errors';
import { applyHostJsonOverrides, type HostJsonOverride } from './hostJsonOverrides';

/** Storage queue trigger settings, `extensions.queues` (defaults as the Storage Queues extension 5.x). */
export interface QueuesOptions {
  batchSize: number;
  newBatchThreshold: number;
  maxPollingIntervalMs: number;
  /** Delay before a failed message becomes visible again. */
  visibilityTimeoutMs: number;
  maxDequeueCount: number;
  messageEncoding: 'base64' | 'none';
}

/** Blob trigger settings, `extensions.blobs`. */
export interface BlobsOptions {
  maxDegreeOfParallelism: number;
  poisonBlobThreshold: number;
}

export interface SingletonOptions {
  listenerLockPeriodMs: number;
  listenerLockRecoveryPollingIntervalMs: number;
}

export interface RetryOptions {
  strategy: 'fixedDelay' | 'exponentialBackoff';
  maxRetryCount: number;
  delayIntervalMs: number;
  minimumIntervalMs: number;
  maximumIntervalMs: number;
}

/** What devhost takes from host.json, validated, with the host's defaults filled in. */
export interface HostOptions {
  /** Undefined means no limit (`-1`). */
  functionTimeoutMs: number | undefined;
  routePrefix: string;
  queues: QueuesOptions;
  blobs: BlobsOptions;
  singleton: SingletonOptions;
  retry: RetryOptions | undefined;
  /** host.json `functions`: restricts which functions load. */
  functions: string[] | undefined;
  /** host.json `logging.logLevel`: category (or `default`) → the least level shown. */
  logLevels: Record<string, RpcLogLevel>;
}

const MINUTE_MS = 60_000;
/** Core Tools runs the host in Development, where the queue polling default drops from 1 min to 2 s. */
const DEVELOPMENT_MAX_POLLING_MS = 2_000;
const MIN_POLLING_MS = 100;
const MAX_BATCH_SIZE = 32;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * One object of host.json, read as the host reads host.json, through .NET configuration: keys without case
 * (`"BatchSize"` is `batchSize`), and of two spellings in one object the later. Every read goes through here, so no
 * list of the keys devhost reads has to be kept beside the code that reads them.
 */
class HostJsonSection {
  readonly #values: Json;

  /** @param path this section's host.json path (`extensions.queues`; empty for the root), for errors */
  constructor(
    values: Json,
    readonly path: string,
  ) {
    this.#values = values;
  }

  /** The host.json path of `key` here, in host.json's spelling. */
  pathOf(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The value of `key`, whatever its case in the file; undefined when absent. */
  get(key: string): unknown {
    const lower = key.toLowerCase();
    let value: unknown;
    for (const [candidate, candidateValue] of Object.entries(this.#values)) {
      if (candidate.toLowerCase() === lower) value = candidateValue;
    }
    return value;
  }

  /** The object at `key` (empty when absent or null). */
  section(key: string): HostJsonSection {
    const value = this.get(key);
    if (value === undefined || value === null) return new HostJsonSection({}, this.pathOf(key));
    if (!isObject(value)) throw new HostJsonError(this.pathOf(key), 'must be an object');
    return new HostJsonSection(value, this.pathOf(key));
  }

  /** The entries (for sections whose keys are names, like `logLevel`): of two spellings of a key, the later. */
  entries(): [string, unknown][] {
    const byLower = new Map<string, [string, unknown]>();
    for (const [key, value] of Object.entries(this.#values)) {
      byLower.delete(key.toLowerCase());
      byLower.set(key.toLowerCase(), [key, value]);
    }
    return [...byLower.values()];
  }
}

function integer(obj: HostJsonSection, key: string, fallback: number, min: number, max: number): number {
  const raw = obj.get(key);
  if (raw === undefined) return fallback;
  // The host binds options from configuration, where every value is a string: "16" is as good as 16.
  const value = typeof raw === 'string' && /^\s*[-+]?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HostJsonError(obj.pathOf(key), `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * An enum option, matched without case as the host's options binding converts enums (`"FixedDelay"` is
 * `fixedDelay`); undefined when `value` is none of `allowed`.
 */
function enumValue<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.trim().toLowerCase();
  return allowed.find((name) => name.toLowerCase() === lower);
}

function duration(obj: HostJsonSection, key: string, fallbackMs: number): number {
  const value = obj.get(key);
  return value === undefined ? fallbackMs : parseTimeSpanMs(value, obj.pathOf(key));
}

function parseQueues(ext: HostJsonSection, processorCount: number): QueuesOptions {
  const q = ext.section('queues');
  const batchSize = integer(q, 'batchSize', 16, 1, MAX_BATCH_SIZE);
  const maxPollingIntervalMs = duration(q, 'maxPollingInterval', DEVELOPMENT_MAX_POLLING_MS);
  if (maxPollingIntervalMs < MIN_POLLING_MS) {
    throw new HostJsonError(q.pathOf('maxPollingInterval'), 'must be at least 00:00:00.1');
  }
  const rawEncoding = q.get('messageEncoding') ?? 'base64';
  const encoding = enumValue(rawEncoding, ['base64', 'none'] as const);
  if (encoding === undefined) {
    throw new HostJsonError(
      q.pathOf('messageEncoding'),
      `must be "base64" or "none", got ${JSON.stringify(rawEncoding)}`,
    );
  }
  return {
    batchSize,
    newBatchThreshold: integer(q, 'newBatchThreshold', Math.floor(batchSize / 2) * processorCount, 0, 10_000),
    maxPollingIntervalMs,
    visibilityTimeoutMs: duration(q, 'visibilityTimeout', 0),
    maxDequeueCount: integer(q, 'maxDequeueCount', 5, 1, 10_000),
    messageEncoding: encoding,
  };
}

const LOG_LEVELS: Record<string, RpcLogLevel> = {
  trace: 'trace',
  debug: 'debug',
  information: 'information',
  warning: 'warning',
  error: 'error',
  critical: 'critical',
  none: 'none',
};

/** `logging.logLevel`: each value one of .NET's `LogLevel` names, without case. */
function parseLogLevels(root: HostJsonSection): Record<string, RpcLogLevel> {
  const logLevel = root.section('logging').section('logLevel');
  const levels: Record<string, RpcLogLevel> = {};
  for (const [category, value] of logLevel.entries()) {
    const level = typeof value === 'string' ? LOG_LEVELS[value.trim().toLowerCase()] : undefined;
    if (!level) {
      throw new HostJsonError(
        logLevel.pathOf(category),
        `must be one of Trace, Debug, Information, Warning, Error, Critical, None, got ${JSON.stringify(value)}`,
      );
    }
    levels[category] = level;
  }
  return levels;
}

function parseRetry(root: HostJsonSection): RetryOptions | undefined {
  if (root.get('retry') === undefined) return undefined;
  const retry = root.section('retry');
  const strategy = enumValue(retry.get('strategy') ?? 'exponentialBackoff', [
    'fixedDelay',
    'exponentialBackoff',
  ] as const);
  if (strategy === undefined) {
    throw new HostJsonError(retry.pathOf('strategy'), 'must be "fixedDelay" or "exponentialBackoff"');
  }
  if (retry.get('maxRetryCount') === undefined) {
    throw new HostJsonError(retry.pathOf('maxRetryCount'), 'is required', { missing: true });
  }
  return {
    strategy,
    maxRetryCount: integer(retry, 'maxRetryCount', 0, -1, 1_000_000),
    delayIntervalMs: duration(retry, 'delayInterval', 0),
    minimumIntervalMs: duration(retry, 'minimumInterval', 0),
    maximumIntervalMs: duration(retry, 'maximumInterval', 0),
  };
}

/** Validates a parsed host.json document. */
export function parseHostOptions(doc: unknown, processorCount = cpus().length): HostOptions {
  if (!isObject(doc)) {
    throw new StartupError('host.json: the document must be a JSON object');
  }
  const root = new HostJsonSection(doc, '');
  if (root.get('version') !== '2.0') {
    throw new HostJsonError('version', `must be "2.0", got ${JSON.stringify(root.get('version'))}`, { quoted: true });
  }
  const ext = root.section('extensions');
  const http = ext.section('http');
  const routePrefix = http.get('routePrefix') ?? 'api';
  if (typeof routePrefix !== 'string') throw new HostJsonError(http.pathOf('routePrefix'), 'must be a string');
  const blobs = ext.section('blobs');
  const singleton = root.section('singleton');
  const timeout = root.get('functionTimeout');
  const functions = root.get('functions');
  if (functions !== undefined && (!Array.isArray(functions) || !functions.every((f) => typeof f === 'string'))) {
    throw new HostJsonError('functions', 'must be an array of function names', { quoted: true });
  }
  return {
    functionTimeoutMs:
      timeout === undefined
        ? 30 * MINUTE_MS
        : timeout === '-1' || timeout === -1
          ? undefined
          : parseTimeSpanMs(timeout, 'functionTimeout'),
    routePrefix: routePrefix.replace(/^\/+|\/+$/g, ''),
    queues: parseQueues(ext, processorCount),
    blobs: {
      maxDegreeOfParallelism: integer(blobs, 'maxDegreeOfParallelism', 8 * processorCount, 1, 10_000),
      poisonBlobThreshold: integer(blobs, 'poisonBlobThreshold', 5, 1, 10_000),
    },
    singleton: {
      listenerLockPeriodMs: duration(singleton, 'listenerLockPeriod', MINUTE_MS),
      listenerLockRecoveryPollingIntervalMs: duration(singleton, 'listenerLockRecoveryPollingInterval', MINUTE_MS),
    },
    retry: parseRetry(root),
    functions,
    logLevels: parseLogLevels(root),
  };
}

/**
 * Reads `<appDir>/host.json`, applies the `AzureFunctionsJobHost__…` app settings over it as the host does, and
 * validates the result; a bad value set by an app setting is reported under the setting's name.
 */
export async function loadHostOptions(appDir: string, env: NodeJS.ProcessEnv = process.env): Promise<HostOptions> {
  const file = path.join(appDir, 'host.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new StartupError(`host.json not found in ${appDir}`, { cause: error });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new StartupError(`host.json is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isObject(doc)) return parseHostOptions(doc);
  const { doc: effective, overrides } = applyHostJsonOverrides(doc, env);
  try {
    return parseHostOptions(effective);
  } catch (error) {
    if (!(error instanceof HostJsonError)) throw error;
    throw blameSettings(error, overrides, doc) ?? error;
  }
}

/** Whether `doc` has an object at `path` (dot-separated), read as the options are. */
function hasSection(doc: Json, path: string): boolean {
  let node: unknown = doc;
  for (const segment of path.split('.')) {
    if (!isObject(node)) return false;
    node = new HostJsonSection(node, '').get(segment);
  }
  return isObject(node);
}

/**
 * `error` restated under the app settings its value came from, or undefined when it came from the file: a bad value
 * is the setting's that set it; a missing one is the settings' that made its section, when the file has no such
 * section (a section the file has is the file's to complete).
 */
function blameSettings(error: HostJsonError, overrides: HostJsonOverride[], file: Json): StartupError | undefined {
  const path = error.path.toLowerCase();
  if (!error.missing) {
    const setter = overrides.find((override) => override.path.toLowerCase() === path);
    if (!setter) return undefined;
    return new StartupError(`app setting ${setter.setting} ${error.problem}`, { cause: error });
  }
  const dot = path.lastIndexOf('.');
  if (dot < 0) return undefined;
  const section = error.path.slice(0, dot);
  if (hasSection(file, section)) return undefined;
  const makers = overrides
    .filter((override) => override.path.toLowerCase().startsWith(`${section.toLowerCase()}.`))
    .map((override) => override.setting);
  if (makers.length === 0) return undefined;
  return new StartupError(
    `app setting${makers.length > 1 ? 's' : ''} ${makers.join(', ')}: ${error.path} ${error.problem}`,
    { cause: error },
  );
}
