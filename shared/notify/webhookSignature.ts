import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed with
 * `WEBHOOK_SIGNING_SECRET`. The timestamp is inside the signed text, so a receiver that refuses old timestamps
 * refuses replays; the body carries the webhook id, so dedupe by id is tamper-proof too.
 */

/** Header names, as sent (HTTP header names are case-insensitive). */
export const WEBHOOK_ID_HEADER = 'Webhook-Id';
export const WEBHOOK_TIMESTAMP_HEADER = 'Webhook-Timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'Webhook-Signature';

/** How far a timestamp may be from the receiver's clock by default, in seconds. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;
/** Longer signature headers are refused unread (a handful of v1 entries fit easily). */
const MAX_SIGNATURE_HEADER_LENGTH = 1024;

/** The three headers that identify and sign one delivery attempt. */
export interface SignedWebhookHeaders {
  [WEBHOOK_ID_HEADER]: string;
  [WEBHOOK_TIMESTAMP_HEADER]: string;
  [WEBHOOK_SIGNATURE_HEADER]: string;
}

/** Request headers as node (`IncomingHttpHeaders`) or fetch (`Headers`) present them. */
export type HeaderSource =
  { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

/** Why a signature was refused. */
export type SignatureFailure =
  | 'missing-signature'
  | 'malformed-signature'
  | 'timestamp-mismatch'
  | 'timestamp-too-old'
  | 'timestamp-in-future'
  | 'signature-mismatch';

/** Result of {@link verifyWebhookSignature}. */
export type SignatureVerification =
  { ok: true; timestampSeconds: number; webhookId: string | undefined } | { ok: false; reason: SignatureFailure };

/** Options for {@link verifyWebhookSignature}. */
export interface VerifyOptions {
  /** Largest accepted distance between the signed timestamp and `now`, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default `Date.now()`). */
  now?: Date | number;
}

/** Lower-case hex HMAC-SHA256 of `"<timestampSeconds>.<rawBody>"`. */
export function computeWebhookSignature(
  secret: string,
  timestampSeconds: number,
  rawBody: string | Uint8Array,
): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

/** The headers for one delivery attempt of `rawBody`, signed at `timestampSeconds` (Unix seconds). */
export function signWebhook(
  secret: string,
  webhookId: string,
  rawBody: string | Uint8Array,
  timestampSeconds: number,
): SignedWebhookHeaders {
  const signature = computeWebhookSignature(secret, timestampSeconds, rawBody);
  return {
    [WEBHOOK_ID_HEADER]: webhookId,
    [WEBHOOK_TIMESTAMP_HEADER]: String(timestampSeconds),
    [WEBHOOK_SIGNATURE_HEADER]: `t=${timestampSeconds},v1=${signature}`,
  };
}

/**
 * Checks a received webhook: the signature header is well formed, its timestamp is within `toleranceSeconds` of now
 * (replay protection), and one of its `v1` signatures matches one of the secrets (several secrets allow rotation),
 * compared in constant time. `rawBody` must be the bytes exactly as received, before any JSON parsing.
 */
export function verifyWebhookSignature(
  secret: string | readonly string[],
  headers: HeaderSource,
  rawBody: string | Uint8Array,
  options: VerifyOptions = {},
): SignatureVerification {
  const header = headerValue(headers, WEBHOOK_SIGNATURE_HEADER);
  if (header === undefined) return { ok: false, reason: 'missing-signature' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed-signature' };
  const timestampHeader = headerValue(headers, WEBHOOK_TIMESTAMP_HEADER);
  if (timestampHeader !== undefined && timestampHeader !== String(parsed.timestampSeconds)) {
    return { ok: false, reason: 'timestamp-mismatch' };
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor(Number(options.now ?? Date.now()) / 1000);
  if (nowSeconds - parsed.timestampSeconds > tolerance) return { ok: false, reason: 'timestamp-too-old' };
  if (parsed.timestampSeconds - nowSeconds > tolerance) return { ok: false, reason: 'timestamp-in-future' };

  const secrets = typeof secret === 'string' ? [secret] : secret;
  const matched = secrets.some((key) => {
    const expected = Buffer.from(computeWebhookSignature(key, parsed.timestampSeconds, rawBody), 'hex');
    // Every candidate is compared (no early exit on the first byte) and all have the same length by construction.
    return parsed.signatures.some((candidate) => timingSafeEqual(expected, candidate));
  });
  if (!matched) return { ok: false, reason: 'signature-mismatch' };
  return { ok: true, timestampSeconds: parsed.timestampSeconds, webhookId: headerValue(headers, WEBHOOK_ID_HEADER) };
}

function parseSignatureHeader(header: string): { timestampSeconds: number; signatures: Buffer[] } | undefined {
  if (header.length > MAX_SIGNATURE_HEADER_LENGTH) return undefined;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator <= 0) return undefined;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (a future v2) are ignored, so senders can add them without breaking this receiver.
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestampSeconds: timestamp, signatures };
}

function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const wanted = name.toLowerCase();
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === wanted);
  const value = key === undefined ? undefined : record[key];
  // A repeated header is ambiguous: treat it as absent rather than guess which one was signed.
  return typeof value === 'string' ? value : undefined;
}
