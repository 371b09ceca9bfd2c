import type { IncomingHttpHeaders } from 'node:http';

import { NotifyError } from './notifyErrors';
import { postToPinnedAddress } from './pinnedHttpPost';
import { signWebhook } from './webhookSignature';
import {
  assertWebhookTargetAllowed,
  type HostResolver,
  type VettedWebhookTarget,
  type WebhookTargetPolicy,
} from './webhookTarget';

/** How webhooks are sent. Build it once from settings. */
export interface WebhookDeliveryOptions {
  policy: WebhookTargetPolicy;
  /** `WEBHOOK_SIGNING_SECRET`: the HMAC key receivers verify with. */
  signingSecret: string;
  /** Deadline for one delivery attempt including redirects, in milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Redirects followed at most, each re-checked against the policy (default 3). */
  maxRedirects?: number;
  /** Name resolution; tests inject one so no real DNS is needed. */
  resolve?: HostResolver;
  /** Clock in Unix milliseconds (default `Date.now`). */
  now?: () => number;
}

/** One attempt to deliver a webhook. */
export interface WebhookRequest {
  url: string;
  /** Stable across retries of the same webhook, so receivers can dedupe. */
  webhookId: string;
  /** The JSON body exactly as it is signed and sent. */
  body: string;
}

/** A webhook the receiver accepted with a 2xx. */
export interface WebhookDelivered {
  statusCode: number;
  /** Host that finally accepted it (after redirects), for logs: never the full URL, which may carry tokens. */
  host: string;
  redirects: number;
}

/** What a response status means for the delivery. */
export type WebhookResponseClass = 'delivered' | 'redirect' | 'retry' | 'gone' | 'rejected';

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_WEBHOOK_REDIRECTS = 3;
/** Redirects that may be re-POSTed with the same body; a 303 (or 300/304/305) names no place to POST to. */
const FOLLOWED_REDIRECTS: ReadonlySet<number> = new Set([301, 302, 307, 308]);
const USER_AGENT = 'azure-background-jobs-webhooks/1';

/**
 * How a receiver's status is treated: 2xx delivered; 301/302/307/308 a redirect to re-check and follow; 408, 429 and
 * 5xx worth a retry; 410 the end of the subscription; every other status (other 4xx, odd 3xx, 1xx) a rejection.
 */
export function classifyWebhookStatus(statusCode: number): WebhookResponseClass {
  if (statusCode >= 200 && statusCode < 300) return 'delivered';
  if (FOLLOWED_REDIRECTS.has(statusCode)) return 'redirect';
  if (statusCode === 408 || statusCode === 429 || (statusCode >= 500 && statusCode < 600)) return 'retry';
  if (statusCode === 410) return 'gone';
  return 'rejected';
}

/**
 * `Retry-After` (delay in seconds or an HTTP date) in milliseconds from `nowMs`, or undefined when absent or invalid.
 */
export function parseRetryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d{1,9}$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/**
 * Signs and POSTs one webhook attempt. Each hop (the URL and every redirect) is checked against the policy and
 * connected to its vetted address only. Resolves when the receiver answers 2xx; otherwise throws a
 * {@link NotifyError} whose `permanent` flag says whether a retry can help.
 */
export async function deliverWebhook(
  request: WebhookRequest,
  options: WebhookDeliveryOptions,
): Promise<WebhookDelivered> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_WEBHOOK_REDIRECTS;
  const deadline = now() + timeoutMs;
  const body = Buffer.from(request.body, 'utf8');
  // One signature per attempt: a redirect re-sends the same signed request.
  const headers = {
    'Content-Type': 'application/json',
    'User-Agent': USER_AGENT,
    ...signWebhook(options.signingSecret, request.webhookId, body, Math.floor(now() / 1000)),
  };

  let url = request.url;
  let previousHost: string | undefined;
  for (let redirects = 0; ; redirects++) {
    const target = await vetHop(url, options, previousHost);
    const remainingMs = deadline - now();
    if (remainingMs <= 0) {
      throw new NotifyError('WEBHOOK_TIMEOUT', `Webhook to ${target.hostname} ran out of time after redirects`);
    }
    const response = await postToPinnedAddress({ target, headers, body, timeoutMs: remainingMs });
    const host = target.hostname;
    previousHost = host;
    const verdict = classifyWebhookStatus(response.statusCode);
    switch (verdict) {
      case 'delivered':
        return { statusCode: response.statusCode, host, redirects };
      case 'redirect':
        if (redirects >= maxRedirects) {
          throw new NotifyError(
            'WEBHOOK_REDIRECT_REFUSED',
            `Webhook to ${host} redirected more than ${maxRedirects} times`,
            {
              statusCode: response.statusCode,
            },
          );
        }
        url = redirectTarget(response.headers, target.url, host, response.statusCode);
        break;
      case 'retry':
        throw new NotifyError('WEBHOOK_UNAVAILABLE', `Webhook receiver ${host} answered ${response.statusCode}`, {
          statusCode: response.statusCode,
          retryAfterMs: parseRetryAfterMs(singleHeader(response.headers['retry-after']), now()),
        });
      case 'gone':
        throw new NotifyError('WEBHOOK_GONE', `Webhook receiver ${host} answered 410 Gone`, { statusCode: 410 });
      case 'rejected':
        throw new NotifyError('WEBHOOK_REJECTED', `Webhook receiver ${host} answered ${response.statusCode}`, {
          statusCode: response.statusCode,
        });
      default: {
        const unreachable: never = verdict;
        throw new Error(`unhandled response class ${String(unreachable)}`);
      }
    }
  }
}

/** Checks one hop; a refused redirect names the host that sent us there. */
async function vetHop(
  url: string,
  options: WebhookDeliveryOptions,
  redirectedBy: string | undefined,
): Promise<VettedWebhookTarget> {
  try {
    return await assertWebhookTargetAllowed(url, options.policy, options.resolve);
  } catch (error) {
    if (redirectedBy === undefined || !(error instanceof NotifyError) || error.code !== 'WEBHOOK_TARGET_REFUSED') {
      throw error;
    }
    throw new NotifyError(
      'WEBHOOK_REDIRECT_REFUSED',
      `Webhook receiver ${redirectedBy} redirected to a refused target. ${error.message}`,
      {
        cause: error,
      },
    );
  }
}

function redirectTarget(headers: IncomingHttpHeaders, base: URL, host: string, statusCode: number): string {
  const location = headers.location;
  if (location === undefined || location === '') {
    throw new NotifyError('WEBHOOK_REDIRECT_REFUSED', `Webhook receiver ${host} redirected without a Location`, {
      statusCode,
    });
  }
  try {
    return new URL(location, base).toString();
  } catch (error) {
    throw new NotifyError('WEBHOOK_REDIRECT_REFUSED', `Webhook receiver ${host} redirected to an invalid URL`, {
      statusCode,
      cause: error,
    });
  }
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
