/**
 * The planner's jobs module: runs inside a model thread (see ../execution/README.md).
 * Holds the ONNX session and the tokenizer for the thread's lifetime.
 */

import { ModelError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import { PlannerTokenizer } from './planner-tokenizer.ts';
import { buildPromptIds, planLayout } from './prompt-template.ts';
import type { SamplingParams } from './sampler.ts';
import { runTokenLoop } from './token-loop.ts';

export interface PlanJobRow {
  prompt: string;
  seed: number;
  sampling: SamplingParams;
  /** Each reference image's main-grid tokens (codebook indices), in the prompt ahead of the text. */
  references: number[][];
}

/** One batch: rows of the same image size. */
export interface PlanJobInput {
  width: number;
  height: number;
  useKvCache: boolean;
  rows: PlanJobRow[];
}

export interface PlanJobRowOutput {
  /** Codebook indices, preview grid then main grid. */
  preview: number[];
  main: number[];
  promptTokens: number;
}

export interface PlanJobOutput {
  rows: PlanJobRowOutput[];
  preview: { rows: number; cols: number };
  main: { rows: number; cols: number };
  /**
   * The end-of-image id that closes each generated sequence. The runtime appends it
   * after exactly preview+main tokens instead of sampling it, so a plan can never stop short.
   */
  endOfImageId: number;
  durationMs: number;
}

/** Progress messages of the `plan` job. */
export interface PlanProgress {
  generated: number;
  total: number;
}

export type PlannerJobs = { plan: ModelJob<PlanJobInput, PlanJobOutput> };

export const createModelJobs: CreateModelJobs<PlannerJobs> = async (pack, options) => {
  const tokenizer = await PlannerTokenizer.load(pack);
  const session = await openSession(pack.files.planner, options);
  const { manifest } = pack;
  return {
    jobs: {
      plan: async (input, ctx) => {
        const started = performance.now();
        const layout = planLayout(manifest, input.width, input.height);
        const rows = input.rows.map((row) => ({
          promptIds: buildPromptIds(tokenizer, manifest, row.prompt, layout, row.references),
          seed: row.seed,
          sampling: row.sampling,
        }));
        const tokens = await runTokenLoop(session, manifest, rows, {
          count: layout.totalTokens,
          padId: tokenizer.padId,
          useKvCache: input.useKvCache,
          beforeStep: () => ctx.throwIfCanceled(),
          onToken: (generated, total) =>
            ctx.progress({ generated, total } satisfies PlanProgress, generated === total),
        });
        const previewCount = layout.preview.rows * layout.preview.cols;
        const mainCount = layout.main.rows * layout.main.cols;
        const out: PlanJobRowOutput[] = tokens.map((row, b) => {
          const preview = row.slice(0, previewCount);
          const main = row.slice(previewCount);
          // The grids must be complete: a main grid one token short (as upstream once
          // shipped) would silently misalign every row of the decoded image.
          if (preview.length !== previewCount || main.length !== mainCount) {
            throw new ModelError(
              `planner row ${b} produced ${preview.length}+${main.length} tokens, expected ${previewCount}+${mainCount}`,
            );
          }
          return { preview, main, promptTokens: rows[b]!.promptIds.length };
        });
        return {
          rows: out,
          preview: layout.preview,
          main: layout.main,
          endOfImageId: tokenizer.endOfImageId,
          durationMs: performance.now() - started,
        };
      },
    },
    close: async () => {
      await session.release();
    },
  };
};
