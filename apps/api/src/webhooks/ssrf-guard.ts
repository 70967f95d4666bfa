/**
 * The SSRF guard for webhook targets. A tenant chooses the URL, so without it a webhook
 * could reach the cloud metadata service or anything inside the cluster. Addresses are
 * checked AT CONNECT TIME: the delivery hands `guard.lookup` to node:http, so the address
 * the socket connects to is exactly the one that was checked and a DNS answer that
 * changes between a check and the connect (rebinding) cannot slip through.
 */

import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { WebhookInvalidUrlError, WebhookTargetRefusedError } from './errors.ts';

type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a hostname to every address it has. Injectable so tests never touch real DNS. */
export type WebhookResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: WebhookResolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Operator exceptions (WEBHOOK_ALLOWLIST): host names, single addresses and CIDR ranges. */
export interface WebhookAllowList {
  hosts: ReadonlySet<string>;
  ranges: ReadonlyArray<[IpAddress, number]>;
}

export const EMPTY_ALLOW_LIST: WebhookAllowList = { hosts: new Set(), ranges: [] };

/** Parses `WEBHOOK_ALLOWLIST`: a comma list (or array) of host names, addresses and CIDRs. */
export function parseWebhookAllowList(spec: string | readonly string[] | undefined): WebhookAllowList {
  const entries = (typeof spec === 'string' ? spec.split(',') : (spec ?? []))
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  const hosts = new Set<string>();
  const ranges: [IpAddress, number][] = [];
  for (const entry of entries) {
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`WEBHOOK_ALLOWLIST: invalid CIDR ${entry}`);
      ranges.push(ipaddr.parseCIDR(entry));
    } else {
      const bare = stripBrackets(entry);
      if (ipaddr.isValid(bare)) {
        const ip = ipaddr.parse(bare);
        ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
      } else {
        hosts.add(normalizeHostname(entry));
      }
    }
  }
  return { hosts, ranges };
}

/** Names that reach cloud metadata or the machine itself whatever DNS says. */
const BLOCKED_HOSTNAMES = new Set([
  'localhost',
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** Metadata endpoints, named explicitly so the refusal says why (most also fall in a blocked range). */
const METADATA_ADDRESSES = new Set([
  '169.254.169.254', // AWS, GCP, Azure IMDS, OpenStack, DigitalOcean
  '169.254.170.2', // AWS ECS container metadata
  '168.63.129.16', // Azure WireServer: public address space, so no range catches it
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud
  'fd00:ec2::254', // AWS IMDS over IPv6
]);

/** IPv6 forms that embed an IPv4 address; the embedded one decides. */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | null {
  const p = ip.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  switch (ip.range()) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
    case 'rfc6052': // NAT64 64:ff9b::a.b.c.d
      return v4(p[6]!, p[7]!);
    case '6to4': // 2002:AABB:CCDD::
      return v4(p[1]!, p[2]!);
    default:
      return null;
  }
}

/**
 * Why an address may not be a webhook target, or null when it is public unicast. Only
 * ranges ipaddr.js calls `unicast` pass: private, loopback, link-local, unique-local,
 * CGNAT, multicast, unspecified, broadcast, documentation and other reserved ranges fail.
 */
export function refusalReason(address: string): string | null {
  const bare = stripBrackets(address);
  if (!ipaddr.isValid(bare)) return 'not an IP address';
  const ip = ipaddr.parse(bare);
  const normalized = ip.toString();
  if (METADATA_ADDRESSES.has(normalized)) return 'cloud metadata address';
  if (ip.kind() === 'ipv4') {
    const range = ip.range();
    return range === 'unicast' ? null : `${range} address`;
  }
  const v6 = ip as ipaddr.IPv6;
  const inner = embeddedIPv4(v6);
  if (inner) {
    const innerReason = refusalReason(inner.toString());
    return innerReason === null ? null : `${v6.range()} form of ${inner.toString()} (${innerReason})`;
  }
  const range = v6.range();
  if (range !== 'unicast') return `${range} address`;
  // ::a.b.c.d (IPv4-compatible, deprecated): ipaddr.js calls it unicast, but it embeds IPv4.
  if (v6.parts.slice(0, 6).every((part) => part === 0)) return 'IPv4-compatible IPv6 address';
  return null;
}

export interface SsrfGuardOptions {
  allowList?: WebhookAllowList;
  resolver?: WebhookResolver;
}

export class SsrfGuard {
  private readonly allowList: WebhookAllowList;
  private readonly resolver: WebhookResolver;

  constructor(options: SsrfGuardOptions = {}) {
    this.allowList = options.allowList ?? EMPTY_ALLOW_LIST;
    this.resolver = options.resolver ?? systemResolver;
  }

  /**
   * Checks what can be checked without DNS: scheme, credentials, IP literals and blocked
   * names. Node does not call `lookup` for IP literals, so this is the only check they get.
   */
  checkUrl(raw: string | URL): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new WebhookInvalidUrlError(`webhook URL is not an absolute URL: ${String(raw)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WebhookInvalidUrlError(`webhook URL must be http or https, got ${url.protocol}`);
    }
    if (url.username || url.password)
      throw new WebhookInvalidUrlError('webhook URL must not carry credentials');
    const host = normalizeHostname(url.hostname);
    if (this.hostAllowed(host)) return url;
    if (ipaddr.isValid(host)) {
      this.checkAddress(host, host);
    } else if (BLOCKED_HOSTNAMES.has(host) || host.endsWith('.localhost')) {
      throw new WebhookTargetRefusedError(host, 'local or metadata host name');
    }
    return url;
  }

  /** Throws unless `address` is public or allow-listed. */
  checkAddress(hostname: string, address: string): void {
    const bare = stripBrackets(address);
    if (this.addressAllowed(bare)) return;
    const reason = refusalReason(bare);
    if (reason !== null) throw new WebhookTargetRefusedError(hostname, reason, bare);
  }

  /**
   * Resolves `hostname` and checks every address. One refused address refuses them all:
   * a name that answers with a private address next to a public one is not trustworthy.
   */
  async resolve(hostname: string): Promise<ResolvedAddress[]> {
    const host = normalizeHostname(hostname);
    if (ipaddr.isValid(host)) {
      this.checkAddress(host, host);
      return [{ address: host, family: ipaddr.parse(host).kind() === 'ipv4' ? 4 : 6 }];
    }
    if (!this.hostAllowed(host) && (BLOCKED_HOSTNAMES.has(host) || host.endsWith('.localhost'))) {
      throw new WebhookTargetRefusedError(host, 'local or metadata host name');
    }
    const answers = await this.resolver(host);
    if (answers.length === 0) {
      throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
    }
    if (!this.hostAllowed(host)) for (const a of answers) this.checkAddress(host, a.address);
    return answers;
  }

  /**
   * A pre-flight check (e.g. when a request is accepted) that resolves but never connects.
   * It does not replace the connect-time check: DNS may answer differently later.
   */
  async assertAllowed(raw: string | URL): Promise<URL> {
    const url = this.checkUrl(raw);
    await this.resolve(url.hostname);
    return url;
  }

  /**
   * A `lookup` for node:http/net: resolves through the guard so every address a socket
   * connects to has passed `checkAddress`. Handles both callback shapes Node uses
   * (`all: true` with happy-eyeballs, a single address otherwise).
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.resolve(hostname).then(
      (answers) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = wanted === 0 ? answers : answers.filter((a) => a.family === wanted);
        const first = usable[0];
        if (!first) {
          callback(
            Object.assign(new Error(`no IPv${wanted} address for ${hostname}`), { code: 'ENOTFOUND' }),
            '',
          );
        } else if (options.all) {
          callback(null, usable);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  private hostAllowed(host: string): boolean {
    return this.allowList.hosts.has(host);
  }

  private addressAllowed(address: string): boolean {
    if (!ipaddr.isValid(address)) return false;
    const ip = ipaddr.parse(address);
    const forms: IpAddress[] = [ip];
    if (ip.kind() === 'ipv6') {
      const inner = embeddedIPv4(ip as ipaddr.IPv6);
      if (inner) forms.push(inner);
    }
    return forms.some((form) =>
      this.allowList.ranges.some(([base, bits]) => base.kind() === form.kind() && form.match(base, bits)),
    );
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function normalizeHostname(host: string): string {
  const lower = stripBrackets(host.trim().toLowerCase());
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
