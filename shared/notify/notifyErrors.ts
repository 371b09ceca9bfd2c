/**
 * Why returning a result to a caller failed. Each code is either permanent (retrying the same thing cannot help:
 * the message goes straight to its poison queue) or transient (retry with backoff). The table below is the single
 * place that decides which, so a code never changes behaviour between call sites.
 */
const PERMANENT_BY_CODE = {
  /** The webhook URL or one of its redirects points somewhere we refuse to send to (policy, not a network fault). */
  WEBHOOK_TARGET_REFUSED: true,
  /** The webhook host name did not resolve (DNS may recover). */
  WEBHOOK_DNS_FAILED: false,
  /** The receiver answered 4xx other than 408/429: it does not want this request. */
  WEBHOOK_REJECTED: true,
  /** The receiver answered 410 Gone: the subscription is over. */
  WEBHOOK_GONE: true,
  /** The receiver answered 408, 429 or 5xx. */
  WEBHOOK_UNAVAILABLE: false,
  /** No complete answer within the delivery timeout. */
  WEBHOOK_TIMEOUT: false,
  /** Connection refused or reset, TLS failure, or another socket error. */
  WEBHOOK_NETWORK_ERROR: false,
  /** A redirect we will not follow: no Location, an unusual 3xx, or more hops than allowed. */
  WEBHOOK_REDIRECT_REFUSED: true,
  /** A webhook queue message that does not match the schema. */
  WEBHOOK_MESSAGE_INVALID: true,
  /** A webhook body larger than a queue message can carry. */
  WEBHOOK_PAYLOAD_TOO_LARGE: true,
  /** A setting the notify module needs is missing or invalid. */
  NOTIFY_CONFIG_INVALID: true,
  /** A reply queue name that breaks Azure's rules or names one of the app's own queues. */
  REPLY_QUEUE_NAME_INVALID: true,
  /** The caller's reply queue does not exist: the caller must create the queue it listens on. */
  REPLY_QUEUE_NOT_FOUND: true,
  /** A reply larger than a queue message can carry. */
  REPLY_TOO_LARGE: true,
  /** The email input is invalid (address, subject with line breaks, missing idempotency key). */
  EMAIL_INVALID: true,
  /** The SMTP server refused the message for good (5xx, e.g. unknown recipient) or refused our credentials. */
  EMAIL_REJECTED: true,
  /** The SMTP server is unreachable, timed out, or answered 4xx (try again later). */
  EMAIL_UNAVAILABLE: false,
  /** Writing the .eml file to the outbox container failed. */
  EMAIL_OUTBOX_FAILED: false,
} as const satisfies Record<string, boolean>;

/** Stable machine-readable reason for a {@link NotifyError}; safe to store on a job record. */
export type NotifyErrorCode = keyof typeof PERMANENT_BY_CODE;

/** Extra facts some failures carry. */
export interface NotifyErrorDetails {
  cause?: unknown;
  /** HTTP status of a webhook response, or SMTP reply code. */
  statusCode?: number;
  /** How long the receiver asked us to wait (its `Retry-After`), in milliseconds. */
  retryAfterMs?: number;
}

/**
 * A failure to return a result (webhook, reply queue, email). `permanent` tells the caller whether to give up now
 * (dead-letter) or retry later. Messages never contain secrets, signatures, URLs with query strings or email bodies.
 */
export class NotifyError extends Error {
  override readonly name = 'NotifyError';
  readonly permanent: boolean;
  readonly statusCode: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: NotifyErrorCode,
    message: string,
    details: NotifyErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.permanent = PERMANENT_BY_CODE[code];
    this.statusCode = details.statusCode;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** True when `code` is one that retrying cannot fix. */
export function isPermanentNotifyCode(code: NotifyErrorCode): boolean {
  return PERMANENT_BY_CODE[code];
}

/** The message of any throwable, for wrapping it into a typed error without losing the reason. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : 'unknown error';
}

/** The first few schema problems as `path: message`, for an error message that names the bad fields. */
export function describeSchemaIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || '(value)'}: ${issue.message}`)
    .join('; ');
}
