/**
 * The image tokenizer's model-thread job: a reference image's pixels in, its semantic
 * tokens out (see ../execution/README.md).
 */

import { inputTensor } from '../decoder/onnx-feeds.ts';
import { ModelError, ModelPackError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import type { TokenGrid } from './token-grid.ts';

export interface TokenizeInput {
  /** Planar RGB [3, height, width] in [0, 1]. */
  pixels: Float32Array;
  width: number;
  height: number;
  /** The grid the tokens must fill: the main grid of this size. */
  rows: number;
  cols: number;
}

export type ImageTokenizerJobs = { tokenize: ModelJob<TokenizeInput, TokenGrid> };

export const createModelJobs: CreateModelJobs<ImageTokenizerJobs> = async (pack, options) => {
  if (!pack.files.imageTokenizer) {
    throw new ModelPackError('model.json', 'planner.imageTokenizer', 'the pack has no image tokenizer');
  }
  const session = await openSession(pack.files.imageTokenizer, options);
  const { codebookSize } = pack.manifest.planner.imageVocab;
  return {
    jobs: {
      tokenize: async ({ pixels, width, height, rows, cols }) => {
        let outputs: Awaited<ReturnType<typeof session.run>>;
        try {
          outputs = await session.run({
            pixel_values: inputTensor(session, 'pixel_values', pixels, [1, 3, height, width]),
          });
        } catch (cause) {
          throw new ModelError(`image tokenizer failed: ${(cause as Error).message}`, { cause });
        }
        const ids = outputs.image_token_ids;
        if (!ids || ids.dims.join(',') !== [1, rows, cols].join(',')) {
          throw new ModelError(
            `image tokenizer returned [${ids?.dims.join(', ')}] tokens, expected [1, ${rows}, ${cols}]`,
          );
        }
        const tokens = Array.from(ids.data as ArrayLike<number | bigint>, Number);
        const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codebookSize);
        if (bad >= 0)
          throw new ModelError(`image tokenizer token ${bad} is ${tokens[bad]}, not a codebook index`);
        return { rows, cols, tokens };
      },
    },
    close: () => session.release(),
  };
};
