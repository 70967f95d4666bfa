/**
 * The planner's jobs module: runs inside a model thread (see ../execution/README.md).
 * Holds the ONNX session, the tokenizer and the continuous batch for the thread's
 * lifetime. `plan` is a concurrent job: every run in flight joins the same batched
 * decoding loop, and each leaves it on its own when done or canceled.
 */

import { ModelError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import { type BatchStats, ContinuousBatch, type PlanSequence } from './continuous-batch.ts';
import { PlannerTokenizer } from './planner-tokenizer.ts';
import { buildPromptIds, planLayout } from './prompt-template.ts';
import type { SamplingParams } from './sampler.ts';
import type { TokenGrid } from './token-grid.ts';

/** One plan: becomes one row of the batch (its prompt ids, seed, sampling and size). */
export interface PlanJobRow {
  prompt: string;
  width: number;
  height: number;
  seed: number;
  sampling: SamplingParams;
  /** Each reference image's main-grid tokens (codebook indices), in the prompt ahead of the text. */
  references: number[][];
}

/** Rows planned together; any mix of sizes. They resolve together, each decoding in its own row. */
export interface PlanJobInput {
  useKvCache: boolean;
  rows: PlanJobRow[];
}

export interface PlanJobRowOutput {
  preview: TokenGrid;
  main: TokenGrid;
  promptTokens: number;
}

export interface PlanJobOutput {
  rows: PlanJobRowOutput[];
  /**
   * The end-of-image id that closes each generated sequence. The runtime appends it
   * after exactly preview+main tokens instead of sampling it, so a plan can never stop short.
   */
  endOfImageId: number;
  /** From the run's arrival in the thread to its last token: waiting for a row included. */
  durationMs: number;
}

/** Progress messages of the `plan` job, over all its rows. */
export interface PlanProgress {
  generated: number;
  total: number;
}

export interface PlannerThreadSettings {
  /** Most sequences decoded in one batch (PLANNER_MAX_BATCH for the worker). */
  maxBatch: number;
}

/** The engine's counters, per mode; `cached` is the serving path. */
export interface PlannerStats {
  cached: BatchStats;
  recompute: BatchStats;
}

/**
 * Rows that may share a model call have the same key: the same number of reference
 * images, as upstream's processor takes one number of images per batch. Sizes and
 * prompt lengths mix freely; the two modes have engines of their own.
 */
export function planBatchKey(row: Pick<PlanJobRow, 'references'>): string {
  return `${row.references.length} references`;
}

export type PlannerJobs = {
  plan: ModelJob<PlanJobInput, PlanJobOutput>;
  stats: ModelJob<Record<string, never>, PlannerStats>;
};

export const createModelJobs: CreateModelJobs<PlannerJobs, PlannerThreadSettings> = async (
  pack,
  options,
  settings,
) => {
  const tokenizer = await PlannerTokenizer.load(pack);
  const session = await openSession(pack.files.planner, options);
  const { manifest } = pack;
  const engine = (useKvCache: boolean) =>
    new ContinuousBatch(session, manifest, {
      maxBatch: settings.maxBatch,
      padId: tokenizer.padId,
      useKvCache,
    });
  // Rows with and without the cache cannot share a model call: one engine per mode.
  const engines = { cached: engine(true), recompute: engine(false) };
  return {
    concurrent: ['plan'],
    jobs: {
      plan: async (input, ctx) => {
        const started = performance.now();
        const layouts = input.rows.map((row) => planLayout(manifest, row.width, row.height));
        const sequences: PlanSequence[] = input.rows.map((row, i) => ({
          promptIds: buildPromptIds(tokenizer, manifest, row.prompt, layouts[i]!, row.references),
          count: layouts[i]!.totalTokens,
          batchKey: planBatchKey(row),
          seed: row.seed,
          sampling: row.sampling,
        }));
        const tokens = await engines[input.useKvCache ? 'cached' : 'recompute'].generate(sequences, {
          isCanceled: () => ctx.canceled,
          onProgress: (generated, total) =>
            ctx.progress({ generated, total } satisfies PlanProgress, generated === total),
        });
        const rows = tokens.map((row, b): PlanJobRowOutput => {
          const { preview, main } = layouts[b]!;
          const previewCount = preview.rows * preview.cols;
          const mainCount = main.rows * main.cols;
          // The grids must be complete: a main grid one token short (as upstream once
          // shipped) would silently misalign every row of the decoded image.
          if (row.length !== previewCount + mainCount) {
            throw new ModelError(
              `planner row ${b} produced ${row.length} tokens, expected ${previewCount}+${mainCount}`,
            );
          }
          return {
            preview: { ...preview, tokens: row.slice(0, previewCount) },
            main: { ...main, tokens: row.slice(previewCount) },
            promptTokens: sequences[b]!.promptIds.length,
          };
        });
        return { rows, endOfImageId: tokenizer.endOfImageId, durationMs: performance.now() - started };
      },
      stats: async () => ({ cached: engines.cached.stats, recompute: engines.recompute.stats }),
    },
    close: async () => {
      await session.release();
    },
  };
};
