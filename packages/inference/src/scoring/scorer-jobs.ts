/**
 * The scorer models' model-thread job: one image (already resized and normalised by the
 * caller) and, for models that read it, the prompt, in; the raw score out.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { floatOutput, inputTensor } from '../decoder/onnx-feeds.ts';
import { ModelError, ModelPackError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import type { OnnxScorerEntry } from '../model-pack-manifest.ts';

export interface ScoreInput {
  name: string;
  /** Planar RGB, normalised, [3, size, size]. */
  pixels: Float32Array;
  size: number;
  prompt: string;
}

export type ScorerJobs = { score: ModelJob<ScoreInput, number> };

interface LoadedScorer {
  entry: OnnxScorerEntry;
  session: InferenceSession;
  tokenizer: Tokenizer | null;
}

const DEFAULT_MAX_TEXT_LENGTH = 77;

export const createModelJobs: CreateModelJobs<ScorerJobs> = async (pack, options) => {
  const scorers = new Map<string, LoadedScorer>();
  try {
    for (const entry of pack.manifest.scorers ?? []) {
      if (entry.type !== 'onnx') continue;
      const files = pack.scorerFiles?.[entry.name];
      if (!files) throw new ModelPackError('model.json', 'scorers', `scorer ${entry.name} has no files`);
      const session = await openSession(files.model, options);
      const tokenizer = files.tokenizer
        ? new Tokenizer(JSON.parse(await readFile(files.tokenizer, 'utf8')), {})
        : null;
      scorers.set(entry.name, { entry, session, tokenizer });
    }
  } catch (error) {
    await Promise.allSettled([...scorers.values()].map((s) => s.session.release()));
    throw error;
  }
  return {
    jobs: {
      score: async ({ name, pixels, size, prompt }) => {
        const scorer = scorers.get(name);
        if (!scorer) throw new ModelError(`no scorer named ${name}`);
        const { session, entry, tokenizer } = scorer;
        const feeds: Record<string, Tensor> = {
          pixel_values: inputTensor(session, 'pixel_values', pixels, [1, 3, size, size]),
        };
        if (tokenizer) {
          const length = entry.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
          const ids = tokenizer.encode(prompt).ids.slice(0, length);
          const mask = ids.map(() => 1);
          while (ids.length < length) {
            ids.push(0);
            mask.push(0);
          }
          feeds.input_ids = inputTensor(session, 'input_ids', ids, [1, length]);
          if (session.inputNames.includes('attention_mask')) {
            feeds.attention_mask = inputTensor(session, 'attention_mask', mask, [1, length]);
          }
        }
        const outputs = await session.run(feeds);
        const [score] = floatOutput(outputs, 'score', 1);
        if (score === undefined || !Number.isFinite(score)) {
          throw new ModelError(`scorer ${name} returned ${score}, not a number`);
        }
        return score;
      },
    },
    close: async () => {
      await Promise.allSettled([...scorers.values()].map((s) => s.session.release()));
    },
  };
};
