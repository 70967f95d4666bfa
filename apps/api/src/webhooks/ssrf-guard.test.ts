import { describe, expect, it } from 'vitest';
import { WebhookInvalidUrlError, WebhookTargetRefusedError } from './errors.ts';
import { parseWebhookAllowList, refusalReason, SsrfGuard, type WebhookResolver } from './ssrf-guard.ts';

/** Answers from a fixed table; never touches real DNS. */
function tableResolver(table: Record<string, string[]>): WebhookResolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string) => {
    calls.push(hostname);
    return (table[hostname] ?? []).map(
      (address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const,
    );
  };
  return Object.assign(resolver, { calls });
}

describe('refusalReason', () => {
  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'linkLocal'],
    ['fd00:ec2::254', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:c0a8:101::1', 'private'],
    ['::7f00:1', 'IPv4-compatible'],
    ['2001:db8::1', 'reserved'],
  ])('refuses %s (%s)', (address, why) => {
    expect(refusalReason(address)).toContain(why);
  });

  it.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'accepts public %s',
    (address) => {
      expect(refusalReason(address)).toBeNull();
    },
  );
});

describe('SsrfGuard.checkUrl', () => {
  const guard = new SsrfGuard({ resolver: tableResolver({}) });
  it.each([
    'http://10.0.0.1/hook',
    'http://172.16.4.4/hook',
    'http://192.168.0.10/hook',
    'http://127.0.0.1:8080/hook',
    'http://[::1]/hook',
    'http://[fe80::1]/hook',
    'http://[fc00::1]/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:127.0.0.1]/hook',
    'http://0x7f.1/hook',
    'http://2130706433/hook',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://localhost:3000/',
    'http://api.localhost/',
  ])('refuses %s without resolving or connecting', (url) => {
    expect(() => guard.checkUrl(url)).toThrow(WebhookTargetRefusedError);
  });

  it.each(['ftp://example.com/x', 'file:///etc/passwd', '/relative', 'https://user:pw@example.com/'])(
    'rejects unusable URL %s',
    (url) => {
      expect(() => guard.checkUrl(url)).toThrow(WebhookInvalidUrlError);
    },
  );

  it('passes public hosts and addresses through to the connect-time check', () => {
    expect(guard.checkUrl('https://hooks.example.com/x').hostname).toBe('hooks.example.com');
    expect(guard.checkUrl('http://8.8.8.8/x').hostname).toBe('8.8.8.8');
  });
});

describe('SsrfGuard.resolve', () => {
  it('refuses a host name that resolves to a private address', async () => {
    const resolver = tableResolver({ 'hooks.internal.example': ['10.20.30.40'] });
    const guard = new SsrfGuard({ resolver });
    await expect(guard.resolve('hooks.internal.example')).rejects.toMatchObject({
      code: 'webhook_target_refused',
      address: '10.20.30.40',
    });
    expect(resolver.calls).toEqual(['hooks.internal.example']);
  });

  it('refuses every address when any one of them is private', async () => {
    const guard = new SsrfGuard({ resolver: tableResolver({ 'mixed.example': ['93.184.216.34', '::1'] }) });
    await expect(guard.resolve('mixed.example')).rejects.toBeInstanceOf(WebhookTargetRefusedError);
  });

  it('returns public answers unchanged', async () => {
    const guard = new SsrfGuard({
      resolver: tableResolver({ 'ok.example': ['93.184.216.34', '2606:4700::1'] }),
    });
    expect(await guard.resolve('OK.example.')).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
  });

  it('fails with ENOTFOUND when nothing resolves', async () => {
    const guard = new SsrfGuard({ resolver: tableResolver({}) });
    await expect(guard.resolve('nowhere.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('lets the operator allow-list names, addresses and ranges', async () => {
    const resolver = tableResolver({
      'receiver.corp': ['10.9.9.9'],
      'other.corp': ['10.1.1.1'],
      'lab.corp': ['192.168.7.7'],
    });
    const guard = new SsrfGuard({
      resolver,
      allowList: parseWebhookAllowList('receiver.corp, 127.0.0.1, 192.168.7.0/24'),
    });
    expect(await guard.resolve('receiver.corp')).toEqual([{ address: '10.9.9.9', family: 4 }]);
    expect(await guard.resolve('lab.corp')).toEqual([{ address: '192.168.7.7', family: 4 }]);
    await expect(guard.resolve('other.corp')).rejects.toBeInstanceOf(WebhookTargetRefusedError);
    expect(guard.checkUrl('http://127.0.0.1:9/x').hostname).toBe('127.0.0.1');
    // The IPv4-mapped form of an allow-listed address is the same host.
    expect(() => guard.checkAddress('x', '::ffff:127.0.0.1')).not.toThrow();
    expect(() => guard.checkAddress('x', '127.0.0.2')).toThrow(WebhookTargetRefusedError);
  });
});

describe('parseWebhookAllowList', () => {
  it('splits hosts from addresses and ranges', () => {
    const list = parseWebhookAllowList(' Hooks.Corp. ,10.0.0.0/8,::1,, [fd00::1] ');
    expect([...list.hosts]).toEqual(['hooks.corp']);
    expect(list.ranges.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual([
      '10.0.0.0/8',
      '::1/128',
      'fd00::1/128',
    ]);
  });
  it('rejects a malformed range', () => {
    expect(() => parseWebhookAllowList('10.0.0.0/99')).toThrow(/invalid CIDR/);
  });
});
