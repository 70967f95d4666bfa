import type { ResolvedAddress, WebhookResolver } from '../webhooks/ssrf-guard.ts';

/**
 * A webhook resolver that answers from a table instead of DNS, so API tests never send
 * a lookup off the machine, and that remembers the names it was asked for. A name not
 * in the table does not exist (ENOTFOUND), as it would in real DNS.
 */
export interface TableResolver extends WebhookResolver {
  readonly lookups: readonly string[];
}

export function tableResolver(table: Record<string, string[]>): TableResolver {
  const lookups: string[] = [];
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    lookups.push(hostname);
    const addresses = table[hostname];
    if (!addresses)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { lookups });
}

/** Names the API tests use: public receivers, and one that points inside a private network. */
export const TEST_WEBHOOK_HOSTS: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'receiver.example.net': ['93.184.215.15', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'hooks.example.test': ['10.1.2.3'],
};
