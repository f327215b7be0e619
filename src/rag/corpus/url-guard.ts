import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';

/** Why an address may not be fetched; each kind has a short message for the moderator. */
export type AddressKind = 'loopback' | 'private' | 'link-local' | 'unspecified' | 'reserved';

const REFUSALS: Record<AddressKind, string> = {
  loopback: 'refused: this address is the bot’s own machine',
  private: 'refused: this address is on a private network',
  'link-local': 'refused: this address is link-local (such as a cloud metadata service)',
  unspecified: 'refused: this address is unspecified (0.0.0.0 or ::)',
  reserved: 'refused: this address is reserved (documentation, multicast or future use)',
};

/** Resolves a host name to all its addresses, as `dns.lookup(host, { all: true })` does. */
export type ResolveHost = (hostname: string) => Promise<readonly LookupAddress[]>;

const systemResolve: ResolveHost = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** An IP address as a 128-bit number; IPv4 addresses are mapped to `::ffff:a.b.c.d`. */
function ipValue(address: string): bigint | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 4) return 0xffff_0000_0000n | ipv4Value(bare);
  if (version !== 6) return undefined;
  let text = bare.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const v4 = ipv4Value(dotted);
    text = `${text.slice(0, -dotted.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function ipv4Value(dotted: string): bigint {
  return dotted.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
}

interface Range {
  base: bigint;
  bits: number;
}

function cidr(text: string): Range {
  const [address = '', prefix] = text.split('/');
  const value = ipValue(address);
  if (value === undefined) throw new RangeError(`not an IP address: ${text}`);
  const v4 = isIP(address) === 4;
  const length = prefix === undefined ? (v4 ? 32 : 128) : Number(prefix);
  const bits = v4 ? 96 + length : length;
  if (!Number.isInteger(length) || bits < 0 || bits > 128) throw new RangeError(`bad prefix length: ${text}`);
  return { base: value, bits };
}

function contains(range: Range, value: bigint): boolean {
  const shift = BigInt(128 - range.bits);
  return value >> shift === range.base >> shift;
}

const FORBIDDEN: [AddressKind, Range][] = (
  [
    ['unspecified', '0.0.0.0/8'],
    ['private', '10.0.0.0/8'],
    ['private', '100.64.0.0/10'],
    ['loopback', '127.0.0.0/8'],
    ['link-local', '169.254.0.0/16'],
    ['private', '172.16.0.0/12'],
    ['reserved', '192.0.0.0/24'],
    ['reserved', '192.0.2.0/24'],
    ['reserved', '192.88.99.0/24'],
    ['private', '192.168.0.0/16'],
    ['reserved', '198.18.0.0/15'],
    ['reserved', '198.51.100.0/24'],
    ['reserved', '203.0.113.0/24'],
    ['reserved', '224.0.0.0/3'],
    ['unspecified', '::/128'],
    ['loopback', '::1/128'],
    ['reserved', '::/96'],
    ['private', '64:ff9b:1::/48'],
    ['reserved', '100::/64'],
    ['reserved', '2001::/23'],
    ['reserved', '2001:db8::/32'],
    ['reserved', '3fff::/20'],
    ['private', 'fc00::/7'],
    ['link-local', 'fe80::/10'],
    ['private', 'fec0::/10'],
    ['reserved', 'ff00::/8'],
  ] as const
).map(([kind, range]) => [kind, cidr(range)]);

/** IPv6 prefixes that carry an IPv4 address, which is what the traffic finally reaches. */
const EMBEDDING_V4: [Range, (value: bigint) => bigint][] = [
  [cidr('64:ff9b::/96'), (v) => v & 0xffff_ffffn],
  [cidr('2002::/16'), (v) => (v >> 80n) & 0xffff_ffffn],
];

/**
 * Classifies an IP address: `undefined` for a public unicast address, else why it is not public. Loopback,
 * private (RFC 1918, carrier-grade NAT 100.64/10, unique local fc00::/7), link-local (169.254/16, where cloud
 * metadata services listen, and fe80::/10), unspecified (0.0.0.0/8, ::) and reserved ranges (documentation,
 * benchmarking, multicast, 240/4). IPv4-mapped (`::ffff:127.0.0.1`), NAT64 (`64:ff9b::`) and 6to4 (`2002::`) forms
 * are judged by the IPv4 address they carry. Anything that is not an IP address is `reserved`.
 */
export function classifyAddress(address: string): AddressKind | undefined {
  const value = ipValue(address);
  if (value === undefined) return 'reserved';
  for (const [range, embedded] of EMBEDDING_V4)
    if (contains(range, value)) return classifyValue(0xffff_0000_0000n | embedded(value));
  return classifyValue(value);
}

function classifyValue(value: bigint): AddressKind | undefined {
  return FORBIDDEN.find(([, range]) => contains(range, value))?.[0];
}

/** An address was refused; its message is safe to show to the moderator. */
export class RefusedAddressError extends Error {
  readonly code = 'ADDRESS_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'RefusedAddressError';
  }
}

/** Keeps `/corpus add url:` to the public web (or the networks an administrator allowed). */
export interface UrlGuard {
  /** Why `url` may not be fetched (scheme, or an IP address written in the URL), or `undefined` when it may be. */
  check(url: URL): string | undefined;
  /**
   * A dispatcher for `fetch` that resolves host names itself and refuses to connect when any address is not
   * allowed, then checks the address of the connected socket again. Since the check is made on the very addresses
   * connected to, a name that resolves to 127.0.0.1, or changes its answer between two lookups (DNS rebinding),
   * cannot reach a private network. Destroy it when the download is over.
   */
  dispatcher(): Dispatcher;
}

/** Options of {@link createUrlGuard}. */
export interface UrlGuardOptions {
  /** IP addresses or CIDR ranges that are allowed although not public (e.g. a wiki on the LAN, a test server). */
  allowedNetworks?: readonly string[];
  /** Resolves host names; the system resolver by default. */
  resolve?: ResolveHost;
}

/**
 * Creates the guard used by `QaService.addFromUrl`. Only http and https are accepted; every address, whether
 * written in the URL (in any IPv4 or IPv6 notation the URL parser accepts) or resolved from a name, must be public
 * or in `allowedNetworks`.
 *
 * @throws RangeError when an entry of `allowedNetworks` is not an IP address or CIDR range.
 */
export function createUrlGuard(options: UrlGuardOptions = {}): UrlGuard {
  const allowed = (options.allowedNetworks ?? []).map(cidr);
  const resolve = options.resolve ?? systemResolve;

  const refusal = (address: string): string | undefined => {
    const value = ipValue(address);
    if (value !== undefined && allowed.some((range) => contains(range, value))) return undefined;
    const kind = classifyAddress(address);
    return kind && REFUSALS[kind];
  };

  const lookup = (
    hostname: string,
    lookupOptions: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    resolve(hostname).then(
      (found) => {
        const family =
          lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family;
        const addresses = found.filter((a) => !family || a.family === family);
        const refused = addresses.map((a) => refusal(a.address)).find(Boolean);
        const first = addresses[0];
        if (refused) callback(new RefusedAddressError(refused), '');
        else if (!first)
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
        else if (lookupOptions.all) callback(null, [...addresses]);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  return {
    check(url) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        return 'only http and https URLs are accepted';
      const host = url.hostname.replace(/^\[|\]$/g, '');
      return isIP(host) ? refusal(host) : undefined;
    },
    dispatcher() {
      const connect = buildConnector({ lookup });
      return new Agent({
        connect: (connectOptions, callback) =>
          connect(connectOptions, (...args) => {
            const [err, socket] = args;
            if (err) return callback(err, null);
            const refused = refusal(socket.remoteAddress ?? '');
            if (!refused) return callback(null, socket);
            socket.destroy();
            callback(new RefusedAddressError(refused), null);
          }),
      });
    },
  };
}

/** The refusal carried by a failed `fetch` (its `cause` chain), if an address was refused. */
export function refusalOf(err: unknown): RefusedAddressError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1)
    if (e instanceof RefusedAddressError) return e;
  return undefined;
}
