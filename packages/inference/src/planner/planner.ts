import { InvalidInputError } from '../errors.ts';
import { DEFAULT_EXECUTION_OPTIONS, type ExecutionOptions } from '../execution/execution-options.ts';
import { ModelThread } from '../execution/model-thread.ts';
import type { ModelPack } from '../model-pack.ts';
import { MAX_REFERENCE_IMAGES } from '../reference-images/reference-image.ts';
import { mainGridSize, validateImageSize } from '../sizes.ts';
import type {
  PlanJobRow,
  PlannerJobs,
  PlannerStats,
  PlannerThreadSettings,
  PlanProgress,
} from './planner-jobs.ts';
import type { SamplingParams } from './sampler.ts';
import type { TokenGrid } from './token-grid.ts';

export type { BatchStats } from './continuous-batch.ts';
export type { PlannerStats } from './planner-jobs.ts';
export type { TokenGrid } from './token-grid.ts';

export interface PlanRequest {
  prompt: string;
  width: number;
  height: number;
  /** 0..2^32-1; the same seed, prompt, size and sampling give the same tokens. */
  seed: number;
  /** Default: the pack's `planner.sampling.temperature`; 0 means greedy. */
  temperature?: number;
  /** Default: the pack's `planner.sampling.topP`. */
  topP?: number;
  /** Default: the pack's `planner.sampling.topK` (0 = off). */
  topK?: number;
  /** Default true. false re-feeds the whole sequence each step (verification, benchmarks). */
  useKvCache?: boolean;
  /**
   * Reference images (image-to-image), as the pack's image tokenizer read them for this
   * size (ImageTokenizer): main grids of codebook indices, at most 4. The plan follows them.
   * A plan shares model calls only with plans of as many reference images (planBatchKey in planner-jobs.ts).
   */
  references?: TokenGrid[];
}

export interface PlanResult {
  preview: TokenGrid;
  main: TokenGrid;
  promptTokens: number;
  /** Image tokens generated: preview + main (the appended end-of-image is not counted). */
  generatedTokens: number;
  /** From the request reaching the model thread to its last token, waiting for a batch row included. */
  durationMs: number;
  /** Tokens of the whole request (every row of a planBatch) per second of durationMs. */
  tokensPerSecond: number;
}

export interface PlannerSettings {
  /**
   * Most plans decoded together in one batch (default 16, the largest batch the
   * benchmark measures; the planner worker passes PLANNER_MAX_BATCH). Plans requested
   * while the batch is full wait for a row to free up.
   */
  maxBatch?: number;
}

export interface PlanOptions {
  signal?: AbortSignal;
  /** Called as tokens are generated (throttled to about 10 per second, the last always). */
  onProgress?: (generated: number, total: number) => void;
}

/**
 * The semantic-token planner. The model runs in its own thread (planner-jobs.ts); this
 * class validates requests and forwards them, so the caller's event loop stays free.
 * Plans requested while others decode join their batch (continuous batching): call
 * `plan` concurrently and the thread decodes up to `maxBatch` of them per model call.
 */
export class Planner {
  private constructor(
    private readonly pack: ModelPack,
    private readonly thread: ModelThread<PlannerJobs>,
  ) {}

  static async load(
    pack: ModelPack,
    options: ExecutionOptions = DEFAULT_EXECUTION_OPTIONS,
    settings: PlannerSettings = {},
  ): Promise<Planner> {
    const maxBatch = settings.maxBatch ?? 16;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new InvalidInputError('maxBatch', `must be a positive integer, got ${maxBatch}`);
    }
    const thread = await ModelThread.start<PlannerJobs>(
      new URL('./planner-jobs.ts', import.meta.url),
      pack,
      options,
      { settings: { maxBatch } satisfies PlannerThreadSettings },
    );
    return new Planner(pack, thread);
  }

  async plan(request: PlanRequest, options: PlanOptions = {}): Promise<PlanResult> {
    const [result] = await this.run([request], options);
    return result!;
  }

  /**
   * Plans several prompts together, of any sizes and numbers of reference images; row i
   * gets request i's seed and the tokens it would get alone (rows with different numbers
   * of references decode in different model calls). One signal and one progress stream
   * for all of them.
   */
  async planBatch(requests: PlanRequest[], options: PlanOptions = {}): Promise<PlanResult[]> {
    if (requests.length === 0) return [];
    const first = requests[0]!;
    for (const request of requests) {
      if ((request.useKvCache ?? true) !== (first.useKvCache ?? true)) {
        throw new InvalidInputError('useKvCache', 'a batch runs in one mode');
      }
    }
    return this.run(requests, options);
  }

  /** The batching engine's counters since load: time inside and outside the model, batch sizes. */
  stats(): Promise<PlannerStats> {
    return this.thread.run('stats', {});
  }

  /** Ends the model thread after the running plans. Safe to call twice. */
  close(): Promise<void> {
    return this.thread.close();
  }

  private async run(requests: PlanRequest[], options: PlanOptions): Promise<PlanResult[]> {
    const rows = requests.map((r) => this.validate(r));
    const output = await this.thread.run(
      'plan',
      { useKvCache: requests[0]!.useKvCache ?? true, rows },
      {
        signal: options.signal,
        onProgress: options.onProgress && ((p: PlanProgress) => options.onProgress?.(p.generated, p.total)),
      },
    );
    const countOf = (row: (typeof output.rows)[number]) => row.preview.tokens.length + row.main.tokens.length;
    const allTokens = output.rows.reduce((sum, row) => sum + countOf(row), 0);
    return output.rows.map((row) => ({
      preview: row.preview,
      main: row.main,
      promptTokens: row.promptTokens,
      generatedTokens: countOf(row),
      durationMs: output.durationMs,
      tokensPerSecond: allTokens / (output.durationMs / 1000),
    }));
  }

  private validate(request: PlanRequest): PlanJobRow {
    const { manifest } = this.pack;
    if (typeof request.prompt !== 'string' || request.prompt.trim() === '') {
      throw new InvalidInputError('prompt', 'must be a non-empty string');
    }
    validateImageSize(manifest, request.width, request.height);
    if (!Number.isInteger(request.seed) || request.seed < 0 || request.seed > 0xffff_ffff) {
      throw new InvalidInputError('seed', `must be an integer in 0..4294967295, got ${request.seed}`);
    }
    const defaults = manifest.planner.sampling;
    const sampling: SamplingParams = {
      temperature: request.temperature ?? defaults.temperature,
      topP: request.topP ?? defaults.topP,
      topK: request.topK ?? defaults.topK,
    };
    if (!(sampling.temperature >= 0) || !Number.isFinite(sampling.temperature)) {
      throw new InvalidInputError('temperature', `must be >= 0, got ${sampling.temperature}`);
    }
    if (!(sampling.topP > 0 && sampling.topP <= 1)) {
      throw new InvalidInputError('topP', `must be in (0, 1], got ${sampling.topP}`);
    }
    if (!Number.isInteger(sampling.topK) || sampling.topK < 0) {
      throw new InvalidInputError('topK', `must be a non-negative integer, got ${sampling.topK}`);
    }
    return {
      prompt: request.prompt,
      width: request.width,
      height: request.height,
      seed: request.seed,
      sampling,
      references: this.references(request),
    };
  }

  /** Each reference's tokens, checked against the grid this request's size plans. */
  private references(request: PlanRequest): number[][] {
    const references = request.references ?? [];
    if (!Array.isArray(references) || references.length > MAX_REFERENCE_IMAGES) {
      throw new InvalidInputError('references', `at most ${MAX_REFERENCE_IMAGES} reference images`);
    }
    const { rows, cols } = mainGridSize(this.pack.manifest, request.width, request.height);
    const { codebookSize } = this.pack.manifest.planner.imageVocab;
    return references.map((grid, i) => {
      if (grid?.rows !== rows || grid.cols !== cols || grid.tokens?.length !== rows * cols) {
        throw new InvalidInputError(
          `references[${i}]`,
          `a ${request.width}x${request.height} plan needs a ${rows}x${cols} token grid, got ${grid?.rows}x${grid?.cols}`,
        );
      }
      const bad = grid.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codebookSize);
      if (bad >= 0) {
        throw new InvalidInputError(
          `references[${i}]`,
          `token ${bad} is ${grid.tokens[bad]}, not a codebook index`,
        );
      }
      return [...grid.tokens];
    });
  }
}
