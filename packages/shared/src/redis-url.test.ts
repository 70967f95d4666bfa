import { describe, expect, it } from 'vitest';
import { parseCommonEnv } from './env.ts';
import { parseRedisUrl } from './redis-url.ts';

describe('REDIS_URL', () => {
  it('names one server with redis:// or rediss://', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'server',
      url: 'redis://127.0.0.1:6379/2',
    });
    expect(parseRedisUrl('rediss://:secret@cache:6380')).toEqual({
      kind: 'server',
      url: 'rediss://:secret@cache:6380',
    });
  });

  it('names a cluster by its seed nodes, with credentials and TLS', () => {
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7000,127.0.0.1:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://app:p%40ss@a.example:7000,[::1]:7001,b.example/')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a.example', port: 7000 },
        { host: '::1', port: 7001 },
        { host: 'b.example', port: 6379 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://:secret@h:1')).toMatchObject({ password: 'secret' });
    expect(parseRedisUrl('redis+cluster://:secret@h:1')).not.toHaveProperty('username');
  });

  it.each([
    ['a cluster URL with a database', 'redis+cluster://h:7000/1', 'seed nodes'],
    ['a node without a host', 'redis+cluster://h:7000,:7001', '":7001" is not a cluster node'],
    ['a port out of range', 'redis+cluster://h:70000', 'is not a cluster node'],
    ['another scheme', 'http://h:6379', 'must be a redis://'],
  ])('refuses %s, saying why', (_name, url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('is checked with the rest of the environment at start-up', () => {
    expect(parseCommonEnv({ REDIS_URL: 'redis+cluster://127.0.0.1:7000' }).REDIS_URL).toBe(
      'redis+cluster://127.0.0.1:7000',
    );
    expect(() => parseCommonEnv({ REDIS_URL: 'redis+cluster://h:7000/0' })).toThrow(/REDIS_URL/);
  });
});
