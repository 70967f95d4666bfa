/**
 * Admission cost against the backlog: the median latency of sequential submits for a
 * tenant with 10 unfinished generations and for one with 10,000, side by side in one run
 * (submits alternate between the two, so drift on a busy machine hits both alike). The
 * API runs in this process against its own redis-server and S3 server, with no workers,
 * so every generation stays queued. Prints a markdown table (JSON to BENCH_JSON_OUT); asserts nothing.
 *
 *   node --import tsx bench/submit-backlog.ts [--submits 400] [--backlog 10000]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { startRedisServer } from '@glm-image/testing/redis-server';
import { startS3Server } from '@glm-image/testing/s3-server';
import { buildApp } from '../apps/api/src/app.ts';
import { parseApiEnv } from '../apps/api/src/env.ts';
import { sha256Hex } from '../apps/api/src/plugins/auth.ts';
import { newGenerationId } from '../apps/api/src/services/admission.ts';
import { markdownTable, publish } from './support/report.ts';
import { median } from './support/stats.ts';

const { values } = parseArgs({
  options: { submits: { type: 'string', default: '400' }, backlog: { type: 'string', default: '10000' } },
});
const submits = Number(values.submits);
const backlog = Number(values.backlog);
const SMALL = 10;

const redis = await startRedisServer();
const s3 = await startS3Server();
const packDir = await mkdtemp(join(tmpdir(), 'bench-submit-pack-'));
await writeFile(join(packDir, 'model.json'), JSON.stringify(REFERENCE_MANIFEST));
const keys = { small: 'bench-key-small-0123456789', large: 'bench-key-large-0123456789' };
const app = await buildApp({
  env: parseApiEnv({
    REDIS_URL: redis.url,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    MODEL_PACK_PATH: packDir,
    LOG_LEVEL: 'silent',
    API_KEYS: JSON.stringify(
      Object.entries(keys).map(([tenant, key]) => ({
        sha256: sha256Hex(key),
        tenant,
        rate_per_minute: 1_000_000,
        max_in_flight: 1_000_000,
      })),
    ),
  }),
});

/** Unfinished generations of `tenant`, admitted as a submit admits them, their jobs left out. */
async function fillBacklog(tenant: string, count: number): Promise<void> {
  const principal = { tenant, admin: false, keyHash: tenant, ratePerMinute: 0, maxInFlight: 0, priority: 10 };
  const input = app.admission.normalize({ prompt: 'backlog' });
  const noJob = async () => undefined;
  for (let i = 0; i < count; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, count - i) }, () =>
        app.admission.admit(principal, newGenerationId(), input, undefined, noJob),
      ),
    );
  }
}

async function submitOnce(key: string): Promise<number> {
  const started = process.hrtime.bigint();
  const res = await app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    payload: { prompt: 'a red circle on a blue background' },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.statusCode !== 202) throw new Error(`submit answered ${res.statusCode}: ${res.body}`);
  return ms;
}

try {
  await fillBacklog('small', SMALL);
  await fillBacklog('large', backlog);
  const unfinished = {
    small: await app.store.unfinishedCount('small'),
    large: await app.store.unfinishedCount('large'),
  };
  for (let i = 0; i < 50; i++) await submitOnce(i % 2 ? keys.small : keys.large); // warm-up
  const times = { small: [] as number[], large: [] as number[] };
  for (let i = 0; i < submits; i++) {
    times.small.push(await submitOnce(keys.small));
    times.large.push(await submitOnce(keys.large));
  }
  const small = median(times.small);
  const large = median(times.large);
  const ratioLargeToSmall = Number((large / small).toFixed(3));
  await publish({
    benchmark: 'Admission: submit latency against the backlog',
    command: `node --import tsx bench/submit-backlog.ts --submits ${submits} --backlog ${backlog}`,
    parameters: { submits_each: submits, backlog },
    figures: {
      unfinished_small: unfinished.small,
      unfinished_large: unfinished.large,
      median_ms_small: Number(small.toFixed(3)),
      median_ms_large: Number(large.toFixed(3)),
      ratio_large_to_small: ratioLargeToSmall,
    },
    table: markdownTable(
      ['unfinished generations of the tenant', 'median submit ms'],
      [
        [`${unfinished.small} (at the start)`, Number(small.toFixed(3))],
        [`${unfinished.large} (at the start)`, Number(large.toFixed(3))],
        ['**ratio**', `**${ratioLargeToSmall}**`],
      ],
    ),
  });
} finally {
  await app.close();
  await s3.stop();
  await redis.stop();
  await rm(packDir, { recursive: true, force: true });
}
