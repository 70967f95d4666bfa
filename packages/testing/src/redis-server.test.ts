import { existsSync } from 'node:fs';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { describe, expect, it } from 'vitest';
import { startRedisServer } from './redis-server.ts';

describe('startRedisServer', () => {
  it('runs a durable server that keeps its data across a SIGKILL and restart on the same port', async () => {
    const server = await startRedisServer();
    const redis = createRedis(server.url);
    redis.on('error', () => {}); // the kill below drops the connection on purpose
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(server.port).not.toBe(6379);
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await redis.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);

      await redis.set('survives', 'yes');
      await redis.xadd('stream', '*', 'n', '1');
      await server.kill('SIGKILL');
      await expect(redis.ping()).rejects.toThrow();

      await server.restart();
      expect(await redis.get('survives')).toBe('yes');
      expect(await redis.xlen('stream')).toBe(1);
    } finally {
      await closeRedis(redis);
      await server.stop();
    }
    expect(existsSync(server.dir)).toBe(false);
    await server.stop(); // safe twice
  });
});
