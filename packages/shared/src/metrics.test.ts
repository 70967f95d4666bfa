import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { Queue, Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerQueueMetrics, ServiceMetrics } from './metrics.ts';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('ServiceMetrics', () => {
  it('records stages, terminal statuses and rates under fixed label names', async () => {
    const metrics = new ServiceMetrics({ collectDefaults: false });
    metrics.observeStage('plan', 0.2);
    metrics.observeStage('plan', 3);
    metrics.startStageTimer('upload')();
    metrics.countGeneration('succeeded');
    metrics.countGeneration('failed', 'timeout');
    metrics.countGeneration('failed', 'timeout');
    metrics.observePlannerTokensPerSecond(120);
    metrics.observeDecoderStepsPerSecond(Number.NaN);
    const { body, contentType } = await metrics.scrape();
    expect(contentType).toContain('text/plain');
    expect(sample(body, 'glm_stage_duration_seconds_count{stage="plan"}')).toBe(2);
    expect(sample(body, 'glm_stage_duration_seconds_bucket{le="0.25",stage="plan"}')).toBe(1);
    expect(sample(body, 'glm_stage_duration_seconds_count{stage="upload"}')).toBe(1);
    expect(sample(body, 'glm_generations_total{status="succeeded",code="none"}')).toBe(1);
    expect(sample(body, 'glm_generations_total{status="failed",code="timeout"}')).toBe(2);
    expect(sample(body, 'glm_planner_tokens_per_second_sum')).toBe(120);
    expect(sample(body, 'glm_decoder_steps_per_second_count')).toBe(0);
    expect(body).not.toContain('process_cpu');
  });
});

describe('registerQueueMetrics', () => {
  let redis: RedisServerHandle;
  const connection = () => ({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null });
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('reads depth per state and the oldest waiting age from BullMQ at scrape time', async () => {
    const prefix = '{glm}';
    const name = `metrics-${process.pid}`;
    const queue = new Queue(name, { connection: connection(), prefix });
    const idle = new Queue(`${name}-idle`, { connection: connection(), prefix });
    const registry = new Registry();
    let now = Date.now();
    registerQueueMetrics(registry, [queue, idle], { now: () => now, timeoutMs: 500 });
    try {
      await queue.add('old', { n: 1 }, { timestamp: now - 90_000 });
      await queue.add('new', { n: 2 });
      await queue.add('vip', { n: 3 }, { priority: 5, timestamp: now - 30_000 });
      await queue.add('later', { n: 4 }, { delay: 60_000 });
      await queue.add('first', { n: 5 }, { priority: 1 });

      let text = await registry.metrics();
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="waiting"}`)).toBe(2);
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="prioritized"}`)).toBe(2);
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="delayed"}`)).toBe(1);
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="active"}`)).toBe(0);
      expect(sample(text, `glm_queue_jobs{queue="${name}-idle",state="waiting"}`)).toBe(0);
      expect(sample(text, `glm_queue_oldest_job_age_seconds{queue="${name}"}`)).toBeCloseTo(90, 0);
      expect(sample(text, `glm_queue_oldest_job_age_seconds{queue="${name}-idle"}`)).toBe(0);

      // A worker takes the next job (BullMQ runs unprioritized jobs first) and holds it: it shows up as active.
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const worker = new Worker(
        name,
        async () => {
          started();
          await held;
        },
        { connection: connection(), prefix, concurrency: 1 },
      );
      await running;
      text = await registry.metrics();
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="active"}`)).toBe(1);
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="waiting"}`)).toBe(1);
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="prioritized"}`)).toBe(2);
      release();
      await worker.close();

      // Unreachable Redis: the scrape still answers, without stale queue samples.
      now += 1000;
      await redis.kill();
      text = await registry.metrics();
      expect(text).toContain('# TYPE glm_queue_jobs gauge');
      expect(text).not.toContain(`glm_queue_jobs{queue="${name}"`);
      expect(text).not.toContain(`glm_queue_oldest_job_age_seconds{queue="${name}"`);
      // Back up (the AOF kept every job): the next scrape reports the queue again.
      await redis.restart();
      text = await registry.metrics();
      expect(sample(text, `glm_queue_jobs{queue="${name}",state="delayed"}`)).toBe(1);
    } finally {
      await queue.close().catch(() => {});
      await idle.close().catch(() => {});
    }
  });
});
