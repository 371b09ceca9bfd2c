import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses a webhook may never be sent to, and why: everything that is not ordinary public unicast. A
 * webhook URL is chosen by whoever calls our API, so without this list it could aim our servers at internal services
 * (the cloud metadata endpoint hands out credentials). Pure functions, no I/O.
 */

interface ForbiddenRange {
  network: Uint8Array;
  prefixLength: number;
  reason: string;
  /** A private network range, which a deployment inside a virtual network may choose to allow. */
  privateNetwork?: boolean;
}

/** Options for {@link forbiddenAddressReason}. */
export interface AddressRuleOptions {
  /**
   * Allow private network ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), for receivers inside the same
   * virtual network. Loopback, link-local (metadata) and the other special ranges stay refused.
   */
  allowPrivateNetworks: boolean;
}

const IPV4_FORBIDDEN: readonly ForbiddenRange[] = [
  range('0.0.0.0/8', 'an unspecified ("this network") address'),
  range('10.0.0.0/8', 'a private network address', true),
  range('100.64.0.0/10', 'a carrier-grade NAT address', true),
  range('127.0.0.0/8', 'a loopback address'),
  range('169.254.0.0/16', 'a link-local address (this includes the cloud metadata endpoint)'),
  range('172.16.0.0/12', 'a private network address', true),
  range('192.0.0.0/24', 'an IETF protocol assignment address'),
  range('192.0.2.0/24', 'a documentation address'),
  range('192.168.0.0/16', 'a private network address', true),
  range('198.18.0.0/15', 'a benchmarking address'),
  range('198.51.100.0/24', 'a documentation address'),
  range('203.0.113.0/24', 'a documentation address'),
  range('224.0.0.0/4', 'a multicast address'),
  range('240.0.0.0/4', 'a reserved or broadcast address'),
  // Azure's virtual public IP for the platform (DNS, health probes, the wire server): public-looking, host-internal.
  range('168.63.129.16/32', 'the Azure platform address'),
];

const IPV6_FORBIDDEN: readonly ForbiddenRange[] = [
  range('::/128', 'an unspecified address'),
  range('::1/128', 'a loopback address'),
  range('::/96', 'a deprecated IPv4-compatible address'),
  range('64:ff9b:1::/48', 'a local-use NAT64 address'),
  range('100::/64', 'a discard-only address'),
  range('2001::/32', 'a Teredo tunnel address'),
  range('2001:db8::/32', 'a documentation address'),
  range('fc00::/7', 'a private (unique local) address', true),
  range('fe80::/10', 'a link-local address'),
  range('fec0::/10', 'a site-local address'),
  range('ff00::/8', 'a multicast address'),
];

/** IPv6 prefixes that carry an IPv4 address inside; the embedded address must pass the IPv4 rules. */
const IPV6_EMBEDDING_IPV4: readonly { prefix: ForbiddenRange; offset: number; label: string }[] = [
  { prefix: range('::ffff:0:0/96', ''), offset: 12, label: 'IPv4-mapped' },
  { prefix: range('64:ff9b::/96', ''), offset: 12, label: 'NAT64' },
  { prefix: range('2002::/16', ''), offset: 2, label: '6to4' },
];

/**
 * Why `address` must not be contacted, or `undefined` when it is ordinary public unicast. Text that is not an IP
 * address is refused too (the caller resolved it, so it must be one).
 */
export function forbiddenAddressReason(
  address: string,
  options: AddressRuleOptions = { allowPrivateNetworks: false },
): string | undefined {
  const bytes = parseIpAddress(address);
  if (!bytes) return 'not a valid IP address';
  if (bytes.length === 4) return matchingReason(bytes, IPV4_FORBIDDEN, options);
  for (const embedding of IPV6_EMBEDDING_IPV4) {
    if (!matches(bytes, embedding.prefix)) continue;
    const inner = bytes.subarray(embedding.offset, embedding.offset + 4);
    const reason = matchingReason(inner, IPV4_FORBIDDEN, options);
    return reason === undefined ? undefined : `${reason}, ${embedding.label} in IPv6`;
  }
  return matchingReason(bytes, IPV6_FORBIDDEN, options);
}

/** 4 bytes for IPv4, 16 for IPv6 (a `%zone` suffix is ignored), `undefined` for anything else. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return parseIpv4(text);
  const zone = text.indexOf('%');
  const address = zone >= 0 ? text.slice(0, zone) : text;
  return isIPv6(address) ? parseIpv6(address) : undefined;
}

function parseIpv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** Expands an address `isIPv6` accepted: `::` compression and a dotted IPv4 tail. */
function parseIpv6(text: string): Uint8Array {
  let address = text;
  const lastColon = address.lastIndexOf(':');
  const tail = address.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = parseIpv4(tail);
    address = `${address.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...(rest === undefined ? [] : zeros), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

function range(cidr: string, reason: string, privateNetwork = false): ForbiddenRange {
  const [address = '', length = ''] = cidr.split('/');
  const network = parseIpAddress(address);
  if (!network) throw new Error(`invalid range ${cidr}`);
  return { network, prefixLength: Number(length), reason, privateNetwork };
}

function matches(bytes: Uint8Array, candidate: ForbiddenRange): boolean {
  if (bytes.length !== candidate.network.length) return false;
  let remaining = candidate.prefixLength;
  for (let index = 0; remaining > 0; index++, remaining -= 8) {
    const mask = remaining >= 8 ? 0xff : (0xff << (8 - remaining)) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((candidate.network[index] ?? 0) & mask)) return false;
  }
  return true;
}

function matchingReason(
  bytes: Uint8Array,
  ranges: readonly ForbiddenRange[],
  options: AddressRuleOptions,
): string | undefined {
  const found = ranges.find((candidate) => matches(bytes, candidate));
  if (!found || (found.privateNetwork === true && options.allowPrivateNetworks)) return undefined;
  return found.reason;
}
