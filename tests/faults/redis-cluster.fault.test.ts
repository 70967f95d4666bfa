/**
 * The whole system on a real Redis Cluster: three masters on loopback, the API, planner,
 * decoder and evaluator processes given `REDIS_URL=redis+cluster://...`. A generation is
 * submitted with a webhook and followed over SSE to its end; its preview and image are
 * downloaded, it is listed, scored, given feedback and exported; another is canceled, a
 * plan is rendered again, a reference image is edited, and a generation stranded by a
 * killed API is queued again by the reconciler. Afterwards every key the system wrote
 * is found on one node, in one slot; with every node down the API answers 503, and once
 * the cluster is back it generates again; a prefix without a hash tag is refused at start.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SseEvent, sseEvents } from '../../apps/api/src/testing/sse-events.ts';
import {
  deliveredEventTypes,
  startTestReceiver,
  type TestReceiver,
} from '../../apps/api/src/testing/webhook-receiver.ts';
import { generateWebhookSecret } from '../../apps/api/src/webhooks/signing.ts';
import { discImage } from '../../packages/inference/src/testing/image-checks.ts';
import { type RedisClusterHandle, startRedisCluster } from '../../packages/testing/src/redis-cluster.ts';
import { REPO_ROOT } from '../../scripts/stack/start-stack.ts';
import {
  API_KEY,
  ApiClient,
  admitThenDie,
  type GenerationView,
  type StackSystem,
  startSystemOn,
} from '../e2e/harness.ts';

const SECRET = generateWebhookSecret();
const ADMIN_KEY = 'cluster-admin-key-0123456789abcdef';
const AUTH_FAILURES_PER_MINUTE = 3;
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

let cluster: RedisClusterHandle;
let system: StackSystem;
let admin: ApiClient;
let hooks: TestReceiver;

beforeAll(async () => {
  cluster = await startRedisCluster();
  hooks = await startTestReceiver();
  system = await startSystemOn(cluster.url, {
    evaluators: 1,
    env: {
      WEBHOOK_ALLOWLIST: '127.0.0.1',
      WEBHOOK_SECRETS: JSON.stringify({ e2e: SECRET }),
      API_KEYS: JSON.stringify([
        { sha256: sha256(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        { sha256: sha256(ADMIN_KEY), tenant: 'e2e', admin: true, rate_per_minute: 100_000 },
      ]),
      AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES_PER_MINUTE),
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_AFTER_MS: '2000',
    },
  });
  admin = new ApiClient(system.stack.apiUrl, ADMIN_KEY);
});

afterAll(async () => {
  await system?.stop();
  await hooks?.close();
  await cluster?.stop();
});

type Annotated = GenerationView & {
  quality?: { plan?: unknown; decode?: unknown };
  feedback?: Array<{ rating?: number }>;
  queue_position?: number;
  webhook?: { deliveries: number; attempts: Array<{ event: string; status?: number }> };
};

async function followToEnd(id: string): Promise<SseEvent<GenerationView>[]> {
  const res = await system.client.request(`/v1/generations/${id}/events`);
  expect(res.status).toBe(200);
  return sseEvents<GenerationView>(res.body!).rest();
}

describe('the system on a three-master Redis Cluster', () => {
  let finished: Annotated;

  it('submits with a webhook, follows the events to the end, downloads, lists, scores and exports', async () => {
    const { client } = system;
    const webhook = { url: `${hooks.url}/hooks`, events: ['generation.planned', 'generation.succeeded'] };
    const body = JSON.stringify({
      prompt: 'a red circle on a blue background with a sign that says "HELLO"',
      width: 512,
      height: 512,
      steps: 4,
      seed: 7,
      webhook,
    });
    const submit = () =>
      client.request('/v1/generations', {
        method: 'POST',
        body,
        headers: { 'idempotency-key': 'cluster-1' },
      });
    const first = await submit();
    expect(first.status).toBe(202);
    // The rate limiter counts in the cluster: its headers are there only when Redis answered.
    expect(first.headers.get('x-ratelimit-remaining')).not.toBeNull();
    const submitted = (await first.json()) as GenerationView;
    const replay = await submit();
    expect(((await replay.json()) as GenerationView).id).toBe(submitted.id);

    const events = await followToEnd(submitted.id);
    expect(
      events
        .filter((e) => e.event === 'status' || e.event.startsWith('generation.'))
        .map((e) => e.data.status),
    ).toEqual(['queued', 'planning', 'decoding', 'succeeded']);
    const names = events.map((e) => e.event);
    expect(names.indexOf('preview')).toBeGreaterThan(0);
    expect(names.at(-1)).toBe('generation.succeeded');

    const done = await client.get(submitted.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const image = await client.download(done.outputs[0]!.url);
    expect(sha256(image)).toBe(done.outputs[0]!.sha256);
    expect(await sharp(image).metadata()).toMatchObject({ format: 'png', width: 512, height: 512 });
    const preview = await client.download(done.preview!.url);
    expect((await sharp(preview).metadata()).format).toBe('png');

    await expect
      .poll(() => deliveredEventTypes(hooks, SECRET, submitted.id), { timeout: 300_000 })
      .toEqual(['generation.planned', 'generation.succeeded']);
    const logged = (await client.waitFor(
      submitted.id,
      (g) => ((g as Annotated).webhook?.deliveries ?? 0) >= 2,
      60_000,
    )) as Annotated;
    expect(logged.webhook!.attempts.map((a) => a.status)).toEqual([200, 200]);

    const list = await client.request('/v1/generations?limit=100');
    expect(list.status).toBe(200);
    const listed = (await list.json()) as { items: GenerationView[] };
    expect(listed.items.map((g) => g.id)).toContain(submitted.id);

    // The evaluator scores both stages; then a person's feedback, and the admin's export.
    finished = (await client.waitFor(submitted.id, (g) => {
      const quality = (g as Annotated).quality;
      return quality?.plan !== undefined && quality?.decode !== undefined;
    })) as Annotated;
    const feedback = await client.request(`/v1/generations/${submitted.id}/feedback`, {
      method: 'POST',
      body: JSON.stringify({ stage: 'decode', rating: 5, labels: [] }),
    });
    expect(feedback.status).toBe(201);
    expect(((await client.get(submitted.id)) as Annotated).feedback).toEqual([
      expect.objectContaining({ rating: 5 }),
    ]);
    const exported = await admin.request('/v1/feedback/export?stage=decode');
    expect(exported.status).toBe(200);
    const rows = (await exported.text())
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { kind: string; generation_id: string });
    expect(rows).toContainEqual(expect.objectContaining({ kind: 'decode', generation_id: submitted.id }));
  });

  it('shows a queued generation its place, cancels it, and it never runs', async () => {
    const { client, stack } = system;
    stack.planners[0]!.kill('SIGSTOP');
    try {
      const submitted = await client.submit({ prompt: 'a blue circle', width: 512, height: 512, steps: 4 });
      expect(((await client.get(submitted.id)) as Annotated).queue_position).toBe(1);
      expect((await client.cancel(submitted.id)).status).toBe('canceled');
    } finally {
      stack.planners[0]!.kill('SIGCONT');
    }
  });

  it('plans only, then renders the stored plan; edits a reference image', async () => {
    const { client } = system;
    const planned = await client.submit({
      prompt: 'a yellow triangle on a purple background',
      width: 512,
      height: 512,
      steps: 3,
      decode: false,
    });
    const planOnly = await client.waitFor(planned.id);
    expect(planOnly).toMatchObject({ status: 'succeeded', outputs: [] });
    const res = await client.request(`/v1/generations/${planned.id}/renders`, {
      method: 'POST',
      body: JSON.stringify({ seed: 2 }),
    });
    expect(res.status).toBe(202);
    const render = await client.waitFor(((await res.json()) as GenerationView).id);
    expect(render).toMatchObject({ status: 'succeeded', input: { source_generation_id: planned.id } });
    expect(render.outputs).toHaveLength(1);

    const reference = await discImage({
      width: 512,
      height: 512,
      disc: { x: 0.66, y: 0.34, radius: 0.16 },
      fill: [220, 30, 30],
      background: [30, 70, 220],
    });
    const edit = await client.submit({
      prompt: 'make the background green',
      width: 512,
      height: 512,
      steps: 4,
      reference_images: [`data:image/png;base64,${reference.toString('base64')}`],
    });
    const edited = await client.waitFor(edit.id);
    expect(edited.status, JSON.stringify(edited.error)).toBe('succeeded');
    const stored = (edited.input.reference_images as Array<{ url: string }>)[0]!;
    expect((await client.download(stored.url)).equals(reference)).toBe(true);
  });

  it('queues a generation stranded by a killed API again, and it succeeds', async () => {
    const id = 'gen_stranded_on_a_cluster';
    expect(await admitThenDie(id, cluster.url, system.s3)).toBe('SIGKILL');
    const rescued = await system.client.waitFor(id);
    expect(rescued.status, JSON.stringify(rescued.error)).toBe('succeeded');
    expect(
      system.logs.some((line) => line.startsWith('api') && line.includes('stranded generations settled')),
    ).toBe(true);
  });

  it('limits failed authentications and shows the queue dashboard from the cluster', async () => {
    const bad = () =>
      system.client.request('/v1/generations', { headers: { authorization: 'Bearer wrong-key' } });
    const statuses: number[] = [];
    for (let i = 0; i <= AUTH_FAILURES_PER_MINUTE; i += 1) statuses.push((await bad()).status);
    expect(statuses.at(-1)).toBe(429);

    const board = await admin.request('/admin/queues/api/queues');
    expect(board.status).toBe(200);
    const { queues } = (await board.json()) as { queues: Array<{ name: string }> };
    expect(queues.map((q) => q.name).sort()).toEqual(['decode', 'plan', 'webhook']);
  });

  it('kept every key it wrote on one node, in the slot of its hash tag', async () => {
    expect(finished).toBeDefined();
    const redis = createRedis(cluster.url);
    try {
      const tagSlot = Number(await redis.call('CLUSTER', 'KEYSLOT', '{glm}'));
      const perNode: string[][] = [];
      for (const node of cluster.nodes) {
        const direct = createRedis(node.url);
        try {
          perNode.push(await direct.keys('*'));
        } finally {
          await closeRedis(direct);
        }
      }
      const holding = perNode.filter((keys) => keys.length > 0);
      expect(holding).toHaveLength(1);
      const keys = holding[0]!;
      expect(keys).toContain(`{glm}:gen:${finished.id}`);
      expect(keys.some((key) => key.startsWith('{glm}:plan:'))).toBe(true);
      const slots = new Set(
        await Promise.all(keys.map(async (key) => Number(await redis.call('CLUSTER', 'KEYSLOT', key)))),
      );
      expect(slots).toEqual(new Set([tagSlot]));
      // No process met a key outside its slot, or a slot it had to be redirected for.
      expect(
        system.logs.filter((line) => /\b(CROSSSLOT|MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/.test(line)),
      ).toEqual([]);
    } finally {
      await closeRedis(redis);
    }
  });

  // Last: takes the whole cluster down and brings it back.
  it('answers 503 while the whole cluster is down, and generates again once it is back', async () => {
    const { client } = system;
    await cluster.kill();
    // Once the API has seen the outage, requests answer at once instead of hanging.
    await expect
      .poll(async () => (await fetch(`${system.stack.apiUrl}/readyz`)).status, { timeout: 300_000 })
      .toBe(503);
    const answer = async () => {
      const res = await client.request('/v1/generations/gen_asked_during_the_outage');
      return { status: res.status, body: await res.json() };
    };
    await expect.poll(answer, { timeout: 300_000 }).toEqual({
      status: 503,
      body: { error: { code: 'service_unavailable', message: expect.any(String) } },
    });

    await cluster.restart();
    await expect
      .poll(async () => (await fetch(`${system.stack.apiUrl}/readyz`)).status, { timeout: 300_000 })
      .toBe(200);
    expect((await client.get(finished.id)).status).toBe('succeeded');
    const after = await client.submit({ prompt: 'a green square', width: 512, height: 512, steps: 2 });
    const done = await client.waitFor(after.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const events = await followToEnd(after.id);
    expect(events.at(-1)?.event).toBe('generation.succeeded');
  });

  it('refuses to start with a queue prefix that lacks a hash tag', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/planner-worker/src/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, REDIS_URL: cluster.url, QUEUE_PREFIX: 'glm', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) =>
      child.once('exit', (exitCode) => resolve(exitCode)),
    );
    expect(code, output).toBe(78);
    expect(output).toMatch(/QUEUE_PREFIX.*hash tag/);
  });
});
