/**
 * The decoder under saturation, on the fixed-cost pack (a denoiser that costs a fixed,
 * known amount of CPU per image per step, so that it dominates as a real DiT does on a
 * GPU; one intra-op thread per process). A backlog of decode jobs waits before the
 * decoder processes start; figures are taken over a window in which every process is
 * saturated (after the first completions, before the backlog runs dry).
 *
 * - Duty cycle: the share of wall time the decoder spends inside the denoiser's
 *   session.run (from its glm_decoder_denoiser_seconds_total counter), with the shipped
 *   two jobs per process against one job at a time (the previous behaviour), side by side.
 * - Scaling: jobs per second with two decoder processes against one.
 *
 *   node --import tsx bench/decoder-saturation.ts [--jobs 20] [--steps 10] [--work 1024]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mainGridSize } from '@glm-image/inference';
import { buildPack, FIXED_COST_MANIFEST, fixedCostPack } from '@glm-image/inference/reference-pack';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { keyPrefixOf } from '@glm-image/shared/keys';
import { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { ServiceMetrics } from '@glm-image/shared/metrics';
import { createQueue, decodeJobId, type QueueSettings } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { queuedRecord } from '@glm-image/testing/records';
import { startRedisServer } from '@glm-image/testing/redis-server';
import {
  type BenchProcess,
  type S3Process,
  scrapeMetric,
  startNodeProcess,
  startS3Process,
  waitForHttp,
  workerEnv,
} from './support/processes.ts';
import { goal, markdownTable, publish } from './support/report.ts';
import { ratio, round } from './support/stats.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20' },
    steps: { type: 'string', default: '10' },
    work: { type: 'string', default: '1024' },
  },
});
const jobsPerProcess = Number(values.jobs);
const steps = Number(values.steps);
const work = Number(values.work);
const SIZE = 64;
const DENOISER_COUNTER = 'glm_decoder_denoiser_seconds_total';

interface RunConfig {
  label: string;
  processes: number;
  concurrency: number;
}

interface RunResult extends RunConfig {
  jobsPerSecond: number;
  dutyCycle: number;
  /** Seconds inside the denoiser per job: grows when the model itself gets less CPU. */
  denoiserSecondsPerJob: number;
  windowSeconds: number;
}

const redisServer = await startRedisServer();
const redis = createRedis(redisServer.url);
const packDir = await mkdtemp(join(tmpdir(), 'glm-bench-fixed-cost-'));
let s3: S3Process | undefined;

/** A backlog of planned generations whose decode jobs wait on the queue under `prefix`. */
async function fillBacklog(prefix: string, count: number): Promise<void> {
  const settings: QueueSettings = {
    prefix,
    names: { plan: 'plan', decode: 'decode', webhook: 'webhook', evaluate: 'evaluate' },
    attempts: 1,
    backoffMs: 1000,
  };
  const store = new GenerationStore(redis, { keyPrefix: keyPrefixOf(prefix) });
  const lifecycle = new GenerationLifecycle({
    store,
    metrics: new ServiceMetrics({ collectDefaults: false }),
    webhooks: null,
    log: { error() {} },
  });
  const queue = createQueue('decode', redis, settings);
  const { rows, cols } = mainGridSize(FIXED_COST_MANIFEST, SIZE, SIZE);
  for (let i = 0; i < count; i += 1) {
    const record = queuedRecord({ input: { width: SIZE, height: SIZE, steps, n: 1, seed: i } });
    await lifecycle.create(record, 0);
    await lifecycle.startStage(record, 'planning');
    await lifecycle.planned(record.id);
    await queue.add(
      'decode',
      {
        generationId: record.id,
        tenant: record.tenant,
        main: { rows, cols, tokens: new Array(rows * cols).fill(1) },
      },
      { jobId: decodeJobId(record.id) },
    );
  }
  await queue.close();
}

async function run(config: RunConfig, index: number): Promise<RunResult> {
  if (!s3) throw new Error('no S3 server');
  const prefix = `{sat${index}}`;
  const total = jobsPerProcess * config.processes;
  await fillBacklog(prefix, total);
  const queue = createQueue('decode', redis, {
    prefix,
    names: { plan: 'plan', decode: 'decode', webhook: 'webhook', evaluate: 'evaluate' },
    attempts: 1,
    backoffMs: 1000,
  });
  const decoders: Array<{ proc: BenchProcess; metrics: string }> = [];
  try {
    for (let i = 0; i < config.processes; i += 1) {
      const env = await workerEnv(redisServer.url, s3, packDir, {
        QUEUE_PREFIX: prefix,
        DECODER_CONCURRENCY: String(config.concurrency),
        INTRA_OP_THREADS: '1',
        INTER_OP_THREADS: '1',
      });
      const proc = startNodeProcess(`decoder-${i + 1}`, 'apps/decoder-worker/src/main.ts', env);
      decoders.push({ proc, metrics: `http://127.0.0.1:${env.METRICS_PORT}/metrics` });
    }
    for (const { proc, metrics } of decoders) await waitForHttp(metrics, 60_000, proc.output);

    const completed = async () => (await queue.getJobCounts('completed')).completed ?? 0;
    const waitFor = async (count: number) => {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const done = await completed();
        if (done >= count) return;
        if (Date.now() > deadline) throw new Error(`${done} of ${count} decode jobs done after 10 minutes`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const snapshot = async () => ({
      at: performance.now(),
      done: await completed(),
      denoiser: await Promise.all(decoders.map(({ metrics }) => scrapeMetric(metrics, DENOISER_COUNTER))),
    });
    // Every process has finished a job (warm), and each still has a backlog at the end.
    await waitFor(2 * config.processes);
    const start = await snapshot();
    await waitFor(total - 2 * config.processes);
    const end = await snapshot();
    const seconds = (end.at - start.at) / 1000;
    const busy = end.denoiser.map((value, i) => value - (start.denoiser[i] as number));
    const busySeconds = busy.reduce((sum, s) => sum + s, 0);
    return {
      ...config,
      jobsPerSecond: (end.done - start.done) / seconds,
      dutyCycle: busySeconds / config.processes / seconds,
      denoiserSecondsPerJob: busySeconds / (end.done - start.done),
      windowSeconds: seconds,
    };
  } finally {
    for (const { proc } of decoders) await proc.stop();
    await queue.close();
  }
}

try {
  await buildPack(packDir, fixedCostPack(work));
  s3 = await startS3Process();
  const oneProcess = { label: 'pipelined (DECODER_CONCURRENCY=2, shipped)', processes: 1, concurrency: 2 };
  const sequential = await run(
    { label: 'one job at a time (DECODER_CONCURRENCY=1)', processes: 1, concurrency: 1 },
    0,
  );
  const before = await run(oneProcess, 1);
  const two = await run({ label: 'two decoder processes, pipelined', processes: 2, concurrency: 2 }, 2);
  // Run again after the two-process run, so that a change of load on the machine shows and averages out.
  const after = await run({ ...oneProcess, label: `${oneProcess.label}, again` }, 3);
  const pipelined: RunResult = {
    ...oneProcess,
    jobsPerSecond: (before.jobsPerSecond + after.jobsPerSecond) / 2,
    dutyCycle: (before.dutyCycle + after.dutyCycle) / 2,
    denoiserSecondsPerJob: (before.denoiserSecondsPerJob + after.denoiserSecondsPerJob) / 2,
    windowSeconds: before.windowSeconds + after.windowSeconds,
  };
  const scaling = ratio(two.jobsPerSecond, pipelined.jobsPerSecond);
  // What the cores allowed: if each job's denoiser time grows when two processes run, the
  // machine had less than a core for each, and no serving layer could scale past this.
  const allowed = ratio(2 * pipelined.denoiserSecondsPerJob, two.denoiserSecondsPerJob);
  const rows = [sequential, before, two, after].map((r) => [
    r.label,
    r.processes,
    round(r.jobsPerSecond, 2),
    `${round(r.dutyCycle * 100, 1)}%`,
    round(r.denoiserSecondsPerJob, 3),
    round(r.windowSeconds, 1),
  ]);
  await publish({
    benchmark: 'Decoder: duty cycle and scaling under saturation (fixed-cost pack)',
    command: `node --import tsx bench/decoder-saturation.ts --jobs ${jobsPerProcess} --steps ${steps} --work ${work}`,
    parameters: {
      jobs_per_process: jobsPerProcess,
      steps,
      guidance_scale: 1.5,
      size: `${SIZE}x${SIZE}`,
      work_units_per_image_step: work,
      intra_op_threads: 1,
    },
    figures: {
      duty_cycle_pipelined: round(pipelined.dutyCycle, 4),
      duty_cycle_one_at_a_time: round(sequential.dutyCycle, 4),
      jobs_per_second_one_at_a_time: round(sequential.jobsPerSecond, 3),
      jobs_per_second_pipelined: round(pipelined.jobsPerSecond, 3),
      jobs_per_second_two_processes: round(two.jobsPerSecond, 3),
      pipelined_vs_one_at_a_time: ratio(pipelined.jobsPerSecond, sequential.jobsPerSecond),
      two_processes_vs_one: scaling,
      denoiser_seconds_per_job_one_process: round(pipelined.denoiserSecondsPerJob, 4),
      denoiser_seconds_per_job_two_processes: round(two.denoiserSecondsPerJob, 4),
      scaling_the_cores_allowed: allowed,
      scaling_of_what_the_cores_allowed: ratio(scaling, allowed),
    },
    goals: [
      goal('duty cycle (pipelined)', round(pipelined.dutyCycle * 100, 1), '≥', 98, '%'),
      goal('2 processes / 1 process', scaling, '≥', 1.8),
    ],
    table: [
      markdownTable(
        [
          'decoder',
          'processes',
          'jobs/s',
          'duty cycle (inside the denoiser)',
          'denoiser s per job',
          'window s',
        ],
        rows,
      ),
      '',
      markdownTable(
        ['ratio', 'value'],
        [
          [
            'pipelined / one job at a time (jobs/s)',
            ratio(pipelined.jobsPerSecond, sequential.jobsPerSecond),
          ],
          ['two processes / one (mean of the runs before and after)', `**${scaling}**`],
          ['what the cores allowed: 2 x denoiser s per job, one process / two processes', allowed],
          ['two processes / one, as a share of what the cores allowed', ratio(scaling, allowed)],
        ],
      ),
    ].join('\n'),
  });
} finally {
  await s3?.stop();
  await closeRedis(redis);
  await redisServer.stop();
  await rm(packDir, { recursive: true, force: true });
}
