import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';

import type { RpcLogLevel } from '../core/rpcTypes';
import { parseTimeSpanMs } from './duration';
import { HostJsonError, StartupError } from './errors';
import { applyHostJsonOverrides, type HostJsonOverride, withCanonicalKeys } from './hostJsonOverrides';

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

function section(parent: Json, key: string, where: string): Json {
  const value = parent[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new HostJsonError(`${where}${key}`, 'must be an object');
  }
  return value as Json;
}

function integer(obj: Json, key: string, where: string, fallback: number, min: number, max: number): number {
  const raw = obj[key];
  if (raw === undefined) return fallback;
  // The host binds options from configuration, where every value is a string: "16" is as good as 16.
  const value = typeof raw === 'string' && /^\s*[-+]?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HostJsonError(`${where}${key}`, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
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

function duration(obj: Json, key: string, where: string, fallbackMs: number): number {
  const value = obj[key];
  return value === undefined ? fallbackMs : parseTimeSpanMs(value, `${where}${key}`);
}

function parseQueues(ext: Json, processorCount: number): QueuesOptions {
  const q = section(ext, 'queues', 'extensions.');
  const where = 'extensions.queues.';
  const batchSize = integer(q, 'batchSize', where, 16, 1, MAX_BATCH_SIZE);
  const maxPollingIntervalMs = duration(q, 'maxPollingInterval', where, DEVELOPMENT_MAX_POLLING_MS);
  if (maxPollingIntervalMs < MIN_POLLING_MS) {
    throw new HostJsonError(`${where}maxPollingInterval`, 'must be at least 00:00:00.1');
  }
  const rawEncoding = q['messageEncoding'] ?? 'base64';
  const encoding = enumValue(rawEncoding, ['base64', 'none'] as const);
  if (encoding === undefined) {
    throw new HostJsonError(
      `${where}messageEncoding`,
      `must be "base64" or "none", got ${JSON.stringify(rawEncoding)}`,
    );
  }
  return {
    batchSize,
    newBatchThreshold: integer(q, 'newBatchThreshold', where, Math.floor(batchSize / 2) * processorCount, 0, 10_000),
    maxPollingIntervalMs,
    visibilityTimeoutMs: duration(q, 'visibilityTimeout', where, 0),
    maxDequeueCount: integer(q, 'maxDequeueCount', where, 5, 1, 10_000),
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
function parseLogLevels(root: Json): Record<string, RpcLogLevel> {
  const logLevel = section(section(root, 'logging', ''), 'logLevel', 'logging.');
  const levels: Record<string, RpcLogLevel> = {};
  for (const [category, value] of Object.entries(logLevel)) {
    const level = typeof value === 'string' ? LOG_LEVELS[value.trim().toLowerCase()] : undefined;
    if (!level) {
      throw new HostJsonError(
        `logging.logLevel.${category}`,
        `must be one of Trace, Debug, Information, Warning, Error, Critical, None, got ${JSON.stringify(value)}`,
      );
    }
    levels[category] = level;
  }
  return levels;
}

function parseRetry(root: Json): RetryOptions | undefined {
  const r = root['retry'];
  if (r === undefined) return undefined;
  const retry = section(root, 'retry', '');
  const strategy = enumValue(retry['strategy'] ?? 'exponentialBackoff', ['fixedDelay', 'exponentialBackoff'] as const);
  if (strategy === undefined) {
    throw new HostJsonError('retry.strategy', 'must be "fixedDelay" or "exponentialBackoff"');
  }
  if (retry['maxRetryCount'] === undefined) {
    throw new HostJsonError('retry.maxRetryCount', 'is required', { missing: true });
  }
  return {
    strategy,
    maxRetryCount: integer(retry, 'maxRetryCount', 'retry.', 0, -1, 1_000_000),
    delayIntervalMs: duration(retry, 'delayInterval', 'retry.', 0),
    minimumIntervalMs: duration(retry, 'minimumInterval', 'retry.', 0),
    maximumIntervalMs: duration(retry, 'maximumInterval', 'retry.', 0),
  };
}

/** Validates a parsed host.json document. */
export function parseHostOptions(doc: unknown, processorCount = cpus().length): HostOptions {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new StartupError('host.json: the document must be a JSON object');
  }
  const root = withCanonicalKeys(doc) as Json;
  if (root['version'] !== '2.0') {
    throw new HostJsonError('version', `must be "2.0", got ${JSON.stringify(root['version'])}`, { quoted: true });
  }
  const ext = section(root, 'extensions', '');
  const http = section(ext, 'http', 'extensions.');
  const routePrefix = http['routePrefix'] ?? 'api';
  if (typeof routePrefix !== 'string') throw new HostJsonError('extensions.http.routePrefix', 'must be a string');
  const blobs = section(ext, 'blobs', 'extensions.');
  const singleton = section(root, 'singleton', '');
  const timeout = root['functionTimeout'];
  const functions = root['functions'];
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
      maxDegreeOfParallelism: integer(
        blobs,
        'maxDegreeOfParallelism',
        'extensions.blobs.',
        8 * processorCount,
        1,
        10_000,
      ),
      poisonBlobThreshold: integer(blobs, 'poisonBlobThreshold', 'extensions.blobs.', 5, 1, 10_000),
    },
    singleton: {
      listenerLockPeriodMs: duration(singleton, 'listenerLockPeriod', 'singleton.', MINUTE_MS),
      listenerLockRecoveryPollingIntervalMs: duration(
        singleton,
        'listenerLockRecoveryPollingInterval',
        'singleton.',
        MINUTE_MS,
      ),
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
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return parseHostOptions(doc);
  const { doc: effective, overrides } = applyHostJsonOverrides(doc as Json, env);
  try {
    return parseHostOptions(effective);
  } catch (error) {
    if (!(error instanceof HostJsonError)) throw error;
    throw blameSettings(error, overrides, doc as Json) ?? error;
  }
}

/** Whether `doc` has an object at `path` (dot-separated, keys without case, as the host reads host.json). */
function hasSection(doc: Json, path: string): boolean {
  let node: unknown = doc;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return false;
    const lower = segment.toLowerCase();
    const key = Object.keys(node).find((candidate) => candidate.toLowerCase() === lower);
    if (key === undefined) return false;
    node = (node as Json)[key];
  }
  return typeof node === 'object' && node !== null;
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
