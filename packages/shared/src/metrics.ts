/**
 * Metric definitions shared by every process. Each process owns one registry (with
 * Node's default process metrics) and records through the typed helpers below, so label
 * names and values are spelled in exactly one place; dashboards and alerts in deploy/
 * read these names.
 */
import type { JobType } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const METRIC_PREFIX = 'glm_';

/** Stages whose duration is recorded; `end_to_end` is accepted → terminal. */
export const STAGES = ['queue_wait', 'plan', 'decode', 'upload', 'end_to_end'] as const;
export type Stage = (typeof STAGES)[number];

export type TerminalStatus = 'succeeded' | 'failed' | 'canceled';

/** The BullMQ states the queue-depth gauge reports; these are the states that still owe work. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** Error code label used when a generation ended without an error (succeeded, canceled). */
export const NO_ERROR_CODE = 'none';

export interface MetricsOptions {
  /** Added as a `service` label to every series, e.g. `api`, `planner-worker`. */
  service?: string;
  /** Node's process metrics (CPU, memory, event loop lag, GC); on by default. */
  collectDefaults?: boolean;
}

/** Latencies run from milliseconds (upload) to minutes (a backlog), hence the wide buckets. */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const RATE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** Quality scores live in [0, 1]; tenths are fine enough to see a drop. */
const SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

export class ServiceMetrics {
  readonly registry: Registry;
  private readonly stageDuration: Histogram<'stage'>;
  private readonly generations: Counter<'status' | 'code'>;
  private readonly plannerTokensPerSecond: Histogram;
  private readonly decoderStepsPerSecond: Histogram;
  private readonly denoiserSeconds: Counter;
  private readonly unreachableStoreRounds: Counter;
  private readonly qualityScores: Histogram<'stage' | 'score'>;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    if (options.service) this.registry.setDefaultLabels({ service: options.service });
    if (options.collectDefaults ?? true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.stageDuration = new Histogram({
      name: `${METRIC_PREFIX}stage_duration_seconds`,
      help: 'Duration of one pipeline stage of a generation, in seconds.',
      labelNames: ['stage'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.generations = new Counter({
      name: `${METRIC_PREFIX}generations_total`,
      help: 'Generations that reached a terminal status, by status and error code.',
      labelNames: ['status', 'code'],
      registers,
    });
    this.plannerTokensPerSecond = new Histogram({
      name: `${METRIC_PREFIX}planner_tokens_per_second`,
      help: 'Semantic tokens generated per second by one plan job.',
      buckets: RATE_BUCKETS,
      registers,
    });
    this.decoderStepsPerSecond = new Histogram({
      name: `${METRIC_PREFIX}decoder_steps_per_second`,
      help: 'Denoising steps per second of one decode job.',
      buckets: RATE_BUCKETS,
      registers,
    });
    this.denoiserSeconds = new Counter({
      name: `${METRIC_PREFIX}decoder_denoiser_seconds_total`,
      help: "Time spent inside the denoiser; its rate is the share of time the decoder's accelerator is busy.",
      registers,
    });
    this.unreachableStoreRounds = new Counter({
      name: `${METRIC_PREFIX}upload_store_unreachable_total`,
      help: 'Upload rounds (each with its own retries) that found the object store unreachable; the rendered image was kept for the next round.',
      registers,
    });
    this.qualityScores = new Histogram({
      name: `${METRIC_PREFIX}quality_score`,
      help: 'Automatic quality scores of succeeded generations, in [0, 1] (higher is better), by stage and score.',
      labelNames: ['stage', 'score'],
      buckets: SCORE_BUCKETS,
      registers,
    });
  }

  observeStage(stage: Stage, seconds: number): void {
    this.stageDuration.observe({ stage }, seconds);
  }

  /** Starts a timer for a stage; call the returned function when the stage ends. */
  startStageTimer(stage: Stage): () => number {
    const started = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.observeStage(stage, seconds);
      return seconds;
    };
  }

  countGeneration(status: TerminalStatus, code?: string): void {
    this.generations.inc({ status, code: code ?? NO_ERROR_CODE });
  }

  observePlannerTokensPerSecond(tokensPerSecond: number): void {
    if (Number.isFinite(tokensPerSecond)) this.plannerTokensPerSecond.observe(tokensPerSecond);
  }

  observeDecoderStepsPerSecond(stepsPerSecond: number): void {
    if (Number.isFinite(stepsPerSecond)) this.decoderStepsPerSecond.observe(stepsPerSecond);
  }

  /** Counts time spent inside one denoiser call (one step). */
  countDenoiserSeconds(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.denoiserSeconds.inc(seconds);
  }

  /** One round of upload retries ended with the object store still unreachable. */
  countUnreachableStoreRound(): void {
    this.unreachableStoreRounds.inc();
  }

  /** One score of one stage of one generation (`stage` plan or decode, `score` its name). */
  observeQualityScore(stage: string, score: string, value: number): void {
    if (Number.isFinite(value)) this.qualityScores.observe({ stage, score }, value);
  }

  /** The exposition text and its content type, for an HTTP /metrics handler. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** What registerQueueMetrics needs from a BullMQ Queue: a Queue itself fits. */
export interface MetricsQueue {
  readonly name: string;
  getJobCounts(...types: JobType[]): Promise<Record<string, number>>;
  getJobs(types: JobType[], start: number, end: number, asc: boolean): Promise<Array<{ timestamp: number }>>;
}

export interface QueueMetricsOptions {
  /** Longest one queue's read may take before the scrape gives up on it (default 2000 ms). */
  timeoutMs?: number;
  now?: () => number;
}

/** Rejects when `promise` outlives `ms`: a scrape must answer even while Redis does not. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`queue metrics read exceeded ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Reports depth per state and the age of the oldest job waiting to start, read from
 * Redis at scrape time (not kept in process memory, so any replica reports the truth
 * and the numbers survive restarts). A scrape that cannot reach Redis reports no
 * samples for these gauges rather than stale ones.
 */
export function registerQueueMetrics(
  registry: Registry,
  queues: readonly MetricsQueue[],
  options: QueueMetricsOptions = {},
): { depth: Gauge<'queue' | 'state'>; oldestAge: Gauge<'queue'> } {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 2000;
  const depth = new Gauge({
    name: `${METRIC_PREFIX}queue_jobs`,
    help: 'Jobs in a queue by state (waiting, prioritized, delayed, active).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues.map(async (queue) => {
          try {
            const counts = await within(queue.getJobCounts(...QUEUE_STATES), timeoutMs);
            for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          } catch {
            // Redis unreachable: leave this queue without samples for this scrape.
          }
        }),
      );
    },
  });
  const oldestAge = new Gauge({
    name: `${METRIC_PREFIX}queue_oldest_job_age_seconds`,
    help: 'Age of the oldest job waiting to start (waiting list tail or prioritized head); 0 when none.',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues.map(async (queue) => {
          try {
            // `wait` is a list consumed from its tail, so ascending order starts at the oldest;
            // `prioritized` is ordered by priority, so its head is the next job to run.
            const [oldestWaiting, nextPrioritized] = await within(
              Promise.all([queue.getJobs(['wait'], 0, 0, true), queue.getJobs(['prioritized'], 0, 0, true)]),
              timeoutMs,
            );
            const timestamps = [...oldestWaiting, ...nextPrioritized].map((job) => job.timestamp);
            const oldest = timestamps.length > 0 ? Math.min(...timestamps) : undefined;
            this.set({ queue: queue.name }, oldest === undefined ? 0 : Math.max(0, (now() - oldest) / 1000));
          } catch {
            // Redis unreachable: no sample for this queue.
          }
        }),
      );
    },
  });
  return { depth, oldestAge };
}
