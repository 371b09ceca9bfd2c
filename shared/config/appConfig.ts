import { isIP } from 'node:net';

import { z } from 'zod';

import type { WebhookTargetPolicy } from '../notify/webhookTarget';
import { parseStorageConnection, type StorageConnection } from '../storage/storageConnection';

/** Raised at start when a setting is missing or invalid; the message names the setting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
}

const DAY_MS = 24 * 60 * 60 * 1000;

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((value) => value ?? fallback);

const widthList = z
  .string()
  .trim()
  .regex(/^\d+(\s*,\s*\d+)*$/, 'must be a comma-separated list of widths in pixels, e.g. 128,256,512')
  .transform((text) => [...new Set(text.split(',').map((part) => Number(part.trim())))].sort((a, b) => a - b))
  .pipe(z.array(z.number().int().min(16).max(4096)).min(1).max(8))
  .optional()
  .transform((value) => value ?? [128, 256, 512]);

/** `true` or `false`, in any case (App Settings and .NET write `True`); anything else names the setting. */
const booleanSetting = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false'], { message: 'must be true or false' }))
    .optional()
    .transform((value) => (value === undefined ? fallback : value === 'true'));

/** HMAC keys shorter than this are guessable; 32 characters is what `openssl rand -hex 16` prints. */
export const MIN_WEBHOOK_SECRET_LENGTH = 32;

/** A DNS name: labels of letters, digits and inner dashes, dot-separated, with an optional trailing root dot. */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Why one `WEBHOOK_ALLOWED_HOSTS` entry is not a host name or IP literal, saying what to write instead; undefined if
 * it is one. Ports are refused rather than honoured: an allowed host may already use any port.
 */
function allowedHostProblem(entry: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry);
  if (scheme) {
    const host = entry.slice(scheme[0].length).split(/[/?#]/)[0] ?? '';
    return `"${entry}" is a URL: write the host name only (${hostWithoutPort(host) || 'e.g. hooks.example.com'})`;
  }
  const unbracketed = entry.replace(/^\[(.*)\]$/, '$1');
  if (isIP(unbracketed) !== 0) return undefined;
  const bracketedWithPort = /^\[([^\]]*)\]:(\d+)$/.exec(entry);
  if (bracketedWithPort || /^[^:]+:\d*$/.test(entry)) {
    return `"${entry}" has a port: write the host name only (${hostWithoutPort(entry)}); an allowed host may use any port`;
  }
  if (!HOST_NAME.test(entry)) return `"${entry}" is not a host name or IP address (e.g. hooks.example.com, 127.0.0.1)`;
  return undefined;
}

function hostWithoutPort(host: string): string {
  const bracketed = /^(\[[^\]]*\])(?::\d*)?$/.exec(host);
  if (bracketed?.[1]) return bracketed[1];
  return host.split('@').pop()?.replace(/:\d*$/, '') ?? host;
}

/** Comma-separated host names or IP literals, lower case; each bad entry is reported with what to write instead. */
const allowedHostList = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((host) => host.trim().toLowerCase())
      .filter(Boolean),
  )
  .superRefine((hosts, context) => {
    for (const host of hosts) {
      const problem = allowedHostProblem(host);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    }
  })
  .optional()
  .transform((hosts) => hosts ?? []);

const settingsSchema = z.object({
  RESOURCE_PREFIX: z
    .string()
    .trim()
    .regex(/^[a-z][a-z0-9]{0,11}$/, 'must be 1-12 lower-case letters and digits, starting with a letter')
    .optional(),
  THUMBNAIL_WIDTHS: widthList,
  THUMBNAIL_FORMAT: z
    .enum(['source', 'webp'])
    .optional()
    .transform((value) => value ?? 'webp'),
  THUMBNAIL_MAX_PIXELS: integer(50_000_000, 1, 1_000_000_000),
  THUMBNAIL_BLOB_SOURCE: z
    .enum(['EventGrid', 'LogsAndContainerScan'])
    .optional()
    .transform((value) => value ?? 'EventGrid'),
  UPLOAD_MAX_BYTES: integer(20 * 1024 * 1024, 1, 256 * 1024 * 1024),
  UPLOAD_SAS_MINUTES: integer(15, 1, 60),
  JOB_RETENTION_DAYS: integer(30, 1, 3650),
  DEADLETTER_RETENTION_DAYS: integer(90, 1, 3650),
  HEALTH_QUEUE_DEPTH_WARN: integer(1000, 1, 10_000_000),
  HEALTH_POISON_WARN: integer(1, 1, 10_000_000),
  HEALTH_DEADLETTER_WARN: integer(100, 1, 100_000),
  PUBLIC_BASE_URL: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://jobs.example.com' })
    .refine((url) => !/[?#]/.test(url), 'must not have a query or fragment')
    .optional(),
  REPLY_QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,30}$/, 'must be 2-31 lower-case letters, digits and single dashes')
    .optional()
    .transform((value) => value ?? 'replies-'),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional(),
  EMAIL_FROM: z
    .string()
    .optional()
    .transform((value) => value ?? 'Background Jobs <orders@example.com>'),
  ORDER_STEP_DEADLINE_SECONDS: integer(120, 1, 86_400),
  ORDER_MAX_REDRIVES: integer(3, 0, 100),
  ORDER_SUPERVISOR_SCHEDULE: z
    .string()
    .optional()
    .transform((value) => value ?? '0 */1 * * * *'),
  NIGHTLY_SCHEDULE: z
    .string()
    .optional()
    .transform((value) => value ?? '0 0 2 * * *'),
  NIGHTLY_MAX_CATCHUP_DAYS: integer(3, 1, 31),
  NIGHTLY_LEASE_SECONDS: integer(120, 1, 3600),
  UPLOAD_ALLOWED_ORIGINS: z.string().optional(),
  SEED_DEMO_CATALOGUE: booleanSetting(true),
  // An empty secret is no secret: webhooks are off, as when the setting is absent.
  WEBHOOK_SIGNING_SECRET: z
    .string()
    .refine(
      (secret) => secret === '' || secret.length >= MIN_WEBHOOK_SECRET_LENGTH,
      `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (e.g. the output of openssl rand -hex 32)`,
    )
    .optional()
    .transform((secret) => secret || undefined),
  WEBHOOK_ALLOWED_HOSTS: allowedHostList,
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: booleanSetting(false),
});

/** Webhook settings: `WEBHOOK_SIGNING_SECRET`, `WEBHOOK_ALLOWED_HOSTS`, `WEBHOOK_ALLOW_PRIVATE_NETWORKS`. */
export interface WebhookSettings {
  /** The HMAC key receivers verify with; undefined: webhooks are off and a `callbackUrl` is refused. */
  signingSecret: string | undefined;
  target: WebhookTargetPolicy;
}

export interface AppConfig {
  /** The storage account that holds all job state (`AzureWebJobsStorage`): a connection string or an identity. */
  storageConnection: StorageConnection;
  /** The account of the jobs table (`JOBS_STORAGE`, same forms as `AzureWebJobsStorage`); defaults to that one. */
  jobsStorageConnection: StorageConnection;
  /** Prepended to every table, queue and container name, so several deployments (or test runs) share an account. */
  resourcePrefix: string;
  thumbnails: {
    widths: number[];
    format: 'source' | 'webp';
    /** Largest image accepted, in pixels (width × height), checked before decoding: decompression bombs fail. */
    maxPixels: number;
    /**
     * How the host learns of uploads: `EventGrid` (an Event Grid subscription calls the blobs extension's webhook;
     * the only source Flex Consumption supports) or `LogsAndContainerScan` (polling, on plans that keep it).
     */
    blobSource: 'EventGrid' | 'LogsAndContainerScan';
  };
  uploads: {
    maxBytes: number;
    sasLifetimeMs: number;
    /** Browser origins allowed to PUT to the SAS URL (blob service CORS); empty leaves CORS as it is. */
    allowedOrigins: string[];
  };
  retention: { jobMs: number; deadLetterMs: number };
  health: {
    queueDepthWarn: number;
    poisonWarn: number;
    /** Open dead letters (waiting for an operator to replay or discard them) at which health turns unhealthy. */
    deadLetterWarn: number;
  };
  /**
   * Where callers reach the API (`PUBLIC_BASE_URL`, without `/api`): status and thumbnail URLs are built from it, never
   * from the request's Host header. Undefined: those URLs are relative (`/api/jobs/{id}`).
   */
  publicBaseUrl: string | undefined;
  /** `replyTo` must name a queue starting with this, so callers cannot post into the app's own queues. */
  replyQueuePrefix: string;
  email: { smtpUrl: string | undefined; from: string };
  orders: {
    /** A step with no progress for this long is re-driven by the supervisor, in milliseconds. */
    stepDeadlineMs: number;
    maxRedrives: number;
    supervisorSchedule: string;
    seedDemoCatalogue: boolean;
  };
  /** Webhooks (`callbackUrl`): how they are signed and where they may go. */
  webhooks: WebhookSettings;
  nightly: {
    schedule: string;
    maxCatchUpDays: number;
    /** A run whose heartbeat is older than this is taken over (its instance died), in milliseconds. */
    leaseMs: number;
  };
}

const JOBS_STORAGE = 'JOBS_STORAGE';

/** A connection setting is given as `NAME` or as any `NAME__*` (identity-based) key, case-insensitively. */
function isSet(name: string, env: NodeJS.ProcessEnv): boolean {
  const lower = name.toLowerCase();
  return Object.entries(env).some(
    ([key, value]) =>
      value !== undefined &&
      value !== '' &&
      (key.toLowerCase() === lower || key.toLowerCase().startsWith(`${lower}__`)),
  );
}

/** Parses and validates the app settings; throws one ConfigError naming every bad setting. */
export function parseAppConfig(env: NodeJS.ProcessEnv): AppConfig {
  const parsed = settingsSchema.safeParse(env);
  const storage = parseStorageConnection('AzureWebJobsStorage', env);
  // The jobs table (status, timeline, listing indexes) carries most of the requests per job: its own account lifts
  // the account ceiling of both (see README "Scale"). Unset, it shares AzureWebJobsStorage.
  const jobsStorage = isSet(JOBS_STORAGE, env) ? parseStorageConnection(JOBS_STORAGE, env) : storage;
  if (!parsed.success || !storage.ok || !jobsStorage.ok) {
    const problems = [
      ...(storage.ok ? [] : storage.problems),
      ...(jobsStorage.ok || jobsStorage === storage ? [] : jobsStorage.problems),
      ...(parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`)),
    ];
    throw new ConfigError(`Invalid app settings: ${problems.join('; ')}`);
  }
  const s = parsed.data;
  return {
    storageConnection: storage.connection,
    jobsStorageConnection: jobsStorage.connection,
    resourcePrefix: s.RESOURCE_PREFIX ?? '',
    thumbnails: {
      widths: s.THUMBNAIL_WIDTHS,
      format: s.THUMBNAIL_FORMAT,
      maxPixels: s.THUMBNAIL_MAX_PIXELS,
      blobSource: s.THUMBNAIL_BLOB_SOURCE,
    },
    uploads: {
      maxBytes: s.UPLOAD_MAX_BYTES,
      sasLifetimeMs: s.UPLOAD_SAS_MINUTES * 60_000,
      allowedOrigins: (s.UPLOAD_ALLOWED_ORIGINS ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    },
    retention: { jobMs: s.JOB_RETENTION_DAYS * DAY_MS, deadLetterMs: s.DEADLETTER_RETENTION_DAYS * DAY_MS },
    health: {
      queueDepthWarn: s.HEALTH_QUEUE_DEPTH_WARN,
      poisonWarn: s.HEALTH_POISON_WARN,
      deadLetterWarn: s.HEALTH_DEADLETTER_WARN,
    },
    publicBaseUrl: s.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    replyQueuePrefix: s.REPLY_QUEUE_PREFIX,
    email: { smtpUrl: s.SMTP_URL, from: s.EMAIL_FROM },
    orders: {
      stepDeadlineMs: s.ORDER_STEP_DEADLINE_SECONDS * 1000,
      maxRedrives: s.ORDER_MAX_REDRIVES,
      supervisorSchedule: s.ORDER_SUPERVISOR_SCHEDULE,
      seedDemoCatalogue: s.SEED_DEMO_CATALOGUE,
    },
    webhooks: {
      signingSecret: s.WEBHOOK_SIGNING_SECRET,
      target: { allowedHosts: s.WEBHOOK_ALLOWED_HOSTS, allowPrivateNetworks: s.WEBHOOK_ALLOW_PRIVATE_NETWORKS },
    },
    nightly: {
      schedule: s.NIGHTLY_SCHEDULE,
      maxCatchUpDays: s.NIGHTLY_MAX_CATCHUP_DAYS,
      leaseMs: s.NIGHTLY_LEASE_SECONDS * 1000,
    },
  };
}

let cached: AppConfig | undefined;

/** The app's configuration, parsed from the environment on first use (at function registration, i.e. at start). */
export function appConfig(): AppConfig {
  cached ??= parseAppConfig(process.env);
  return cached;
}
