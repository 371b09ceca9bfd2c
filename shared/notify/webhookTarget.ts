import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { forbiddenAddressReason } from './ipAddressRanges';
import { describeError, NotifyError } from './notifyErrors';

/** Where webhooks may go. Parsed and validated at start with the app settings (`shared/config/appConfig.ts`). */
export interface WebhookTargetPolicy {
  /**
   * Host names or IP literals trusted by the operator (lower case, no port). They may use plain http, any port, and
   * addresses that are otherwise refused (loopback, private): this is how local development and tests reach a
   * receiver on this machine.
   */
  allowedHosts: readonly string[];
  /** Also allow private network ranges for every host (receivers inside the same virtual network). */
  allowPrivateNetworks: boolean;
}

/** Resolves a host name to every IP address it has (like `dns.lookup` with `all: true`). */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;

/** A webhook URL that passed the policy, with the one address the request must connect to. */
export interface VettedWebhookTarget {
  url: URL;
  /** Host name without brackets or trailing dot, lower case. */
  hostname: string;
  /** The vetted address to connect to: pin it, never resolve the name again (DNS rebinding). */
  address: string;
  family: 4 | 6;
  /** The host is in the allow list. */
  explicitlyAllowed: boolean;
}

/** Ports a webhook may use on hosts that are not explicitly allowed. */
const STANDARD_HTTPS_PORTS: ReadonlySet<number> = new Set([443, 8443]);
const MAX_URL_LENGTH = 2048;
/** Names that only mean something inside a network, whatever they resolve to today. */
const INTERNAL_NAME_SUFFIXES = ['.localhost', '.local', '.internal', '.localdomain', '.home.arpa', '.intranet', '.lan'];

/** The system resolver (`getaddrinfo`), every address, in the order the system prefers. */
export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * What a caller is told when its callbackUrl is refused. The reason (and what the name resolved to) goes to the log
 * only: an anonymous caller must not learn how internal names resolve.
 */
export const WEBHOOK_TARGET_REFUSED_MESSAGE =
  'is refused: webhooks go to https URLs on public addresses (ports 443 and 8443), or to hosts this deployment allows';

/**
 * Checks a webhook URL against the policy and resolves it, returning the address to connect to; throws a permanent
 * `WEBHOOK_TARGET_REFUSED` {@link NotifyError} saying why it is refused, or a transient `WEBHOOK_DNS_FAILED`.
 *
 * Rules: https only (http for allowed hosts); no user info; ports 443/8443 only (any for allowed hosts); no internal
 * names (`localhost`, `*.internal`, single-label names); and every address the name resolves to must be public
 * unicast (see `ipAddressRanges.ts`), unless the host is allowed.
 */
export async function assertWebhookTargetAllowed(
  url: string,
  policy: WebhookTargetPolicy,
  resolve: HostResolver = systemResolver,
): Promise<VettedWebhookTarget> {
  const parsed = parseWebhookUrl(url);
  const hostname = normaliseHostname(parsed.hostname);
  const refuse = (why: string): never => {
    throw new NotifyError('WEBHOOK_TARGET_REFUSED', `Webhook target ${hostname || '(none)'} refused: ${why}`);
  };
  const explicitlyAllowed = policy.allowedHosts.some((allowed) => normaliseHostname(allowed) === hostname);

  if (parsed.username !== '' || parsed.password !== '') refuse('credentials in the URL are not allowed');
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && explicitlyAllowed)) {
    refuse(
      `${parsed.protocol.replace(/:$/, '')} is not allowed (https only, unless the host is in WEBHOOK_ALLOWED_HOSTS)`,
    );
  }
  if (hostname === '') refuse('the URL has no host');
  if (!explicitlyAllowed) {
    const port = parsed.port === '' ? 443 : Number(parsed.port);
    if (!STANDARD_HTTPS_PORTS.has(port)) refuse(`port ${port} is not allowed (443 or 8443)`);
    if (isIP(hostname) === 0) {
      const nameProblem = internalNameReason(hostname);
      if (nameProblem) refuse(nameProblem);
    }
  }

  const addresses = isIP(hostname) !== 0 ? [hostname] : await resolveHost(hostname, resolve);
  if (!explicitlyAllowed) {
    for (const address of addresses) {
      const reason = forbiddenAddressReason(address, { allowPrivateNetworks: policy.allowPrivateNetworks });
      if (reason) refuse(isIP(hostname) !== 0 ? `it is ${reason}` : `it resolves to ${reason} (${address})`);
    }
  }
  const address = addresses[0] ?? refuse('the host has no address');
  const family = isIP(address) === 6 ? 6 : 4;
  return { url: parsed, hostname, address, family, explicitlyAllowed };
}

/** Lower case, without IPv6 brackets or a trailing root dot, so `LOCALHOST.` and `[::1]` compare as they resolve. */
export function normaliseHostname(hostname: string): string {
  return hostname
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

function parseWebhookUrl(url: string): URL {
  if (url.length > MAX_URL_LENGTH) {
    throw new NotifyError('WEBHOOK_TARGET_REFUSED', `Webhook target refused: the URL is longer than ${MAX_URL_LENGTH}`);
  }
  try {
    return new URL(url);
  } catch (error) {
    throw new NotifyError('WEBHOOK_TARGET_REFUSED', 'Webhook target refused: not a valid absolute URL', {
      cause: error,
    });
  }
}

function internalNameReason(hostname: string): string | undefined {
  if (hostname === 'localhost') return 'localhost is not allowed';
  if (!hostname.includes('.')) return 'single-label host names resolve to internal hosts';
  const suffix = INTERNAL_NAME_SUFFIXES.find((candidate) => hostname.endsWith(candidate));
  return suffix ? `names under ${suffix} are internal` : undefined;
}

async function resolveHost(hostname: string, resolve: HostResolver): Promise<readonly string[]> {
  let addresses: readonly string[];
  try {
    addresses = await resolve(hostname);
  } catch (error) {
    throw new NotifyError('WEBHOOK_DNS_FAILED', `Webhook host ${hostname} did not resolve: ${describeError(error)}`, {
      cause: error,
    });
  }
  if (addresses.length === 0) throw new NotifyError('WEBHOOK_DNS_FAILED', `Webhook host ${hostname} has no address`);
  if (addresses.some((address) => isIP(address) === 0)) {
    throw new NotifyError(
      'WEBHOOK_DNS_FAILED',
      `Webhook host ${hostname} resolved to something that is not an address`,
    );
  }
  return addresses;
}
