import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../errors.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { leftPad } from './batch.ts';
import { type SamplingParams, SeededRandom, sampleToken } from './sampler.ts';

export interface TokenLoopRow {
  promptIds: number[];
  seed: number;
  sampling: SamplingParams;
}

export interface TokenLoopOptions {
  /** Codebook tokens to generate per row (preview then main grid). */
  count: number;
  padId: number;
  /** true: prefill once, then one token per step with past_key_values. false: re-feed the whole sequence each step. */
  useKvCache: boolean;
  /** Called between model steps; throws to stop (cancellation). */
  beforeStep: () => void;
  onToken: (generated: number, total: number) => void;
}

/**
 * The planner's autoregressive loop over a batch. Each step samples, per row, one
 * codebook index from the last position's logits (the specials after the codebook are
 * masked, so the grids can never end early), with the row's own seeded generator.
 * Returns the sampled codebook indices per row: exactly `count` each.
 */
export async function runTokenLoop(
  session: InferenceSession,
  manifest: ModelPackManifest,
  rows: TokenLoopRow[],
  options: TokenLoopOptions,
): Promise<number[][]> {
  const { numLayers, numKvHeads, headDim, imageVocab } = manifest.planner;
  const feedsPositions = session.inputNames.includes('position_ids');
  const batch = rows.length;
  const padded = leftPad(
    rows.map((r) => r.promptIds),
    options.padId,
  );
  const randoms = rows.map((r) => new SeededRandom(r.seed));
  const generated: number[][] = rows.map(() => []);

  // The full sequence so far, kept for the no-cache mode and to extend the mask.
  let sequenceIds = padded.inputIds.slice();
  let mask = padded.attentionMask.slice();
  let positions = padded.positionIds.slice();
  let length = padded.length;
  const nextPositions = padded.nextPositions.slice();

  const emptyPast = () => {
    const past: Record<string, Tensor> = {};
    for (let i = 0; i < numLayers; i++) {
      for (const part of ['key', 'value']) {
        past[`past_key_values.${i}.${part}`] = new Tensor('float32', new Float32Array(0), [
          batch,
          numKvHeads,
          0,
          headDim,
        ]);
      }
    }
    return past;
  };
  let past = emptyPast();
  // In KV mode after the prefill only the newest token goes in.
  let stepIds = sequenceIds;
  let stepPositions = positions;
  let stepLength = length;

  for (let t = 0; t < options.count; t++) {
    options.beforeStep();
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(stepIds, [batch, stepLength]),
      attention_mask: int64Tensor(mask, [batch, length]),
      ...past,
    };
    if (feedsPositions) feeds.position_ids = int64Tensor(stepPositions, [batch, stepLength]);

    let outputs: InferenceSession.OnnxValueMapType;
    try {
      outputs = await session.run(feeds);
    } catch (cause) {
      throw new ModelError(`planner failed at token ${t}: ${(cause as Error).message}`, { cause });
    }
    const logits = outputs.logits as Tensor | undefined;
    const expected = `[${batch}, ${stepLength}, ${imageVocab.size}]`;
    if (!logits) throw new ModelError(`planner returned no logits, expected ${expected}`);
    const [dimBatch, dimLength, vocab] = logits.dims;
    if (
      logits.dims.length !== 3 ||
      dimBatch !== batch ||
      dimLength !== stepLength ||
      vocab !== imageVocab.size
    ) {
      throw new ModelError(`planner logits have shape [${logits.dims.join(', ')}], expected ${expected}`);
    }
    const data = logits.data as Float32Array;
    const next: number[] = [];
    for (let b = 0; b < batch; b++) {
      const offset = (b * stepLength + stepLength - 1) * vocab;
      const row = data.subarray(offset, offset + vocab);
      let token: number;
      try {
        token = sampleToken(row, imageVocab.codebookSize, rows[b]!.sampling, randoms[b]!);
      } catch (cause) {
        throw new ModelError(`planner produced unusable logits at token ${t} of row ${b}`, { cause });
      }
      generated[b]!.push(token);
      next.push(imageVocab.firstTokenId + token);
    }
    options.onToken(t + 1, options.count);
    if (t + 1 === options.count) break;

    // Append the sampled tokens: the mask and positions grow by one column.
    mask = appendColumn(mask, batch, length, () => 1);
    const newPositions = nextPositions.map((p) => p);
    for (let b = 0; b < batch; b++) nextPositions[b]! += 1;
    if (options.useKvCache) {
      past = presentAsPast(outputs, numLayers, batch, numKvHeads, length, headDim);
      stepIds = next;
      stepPositions = newPositions;
      stepLength = 1;
      length += 1;
    } else {
      sequenceIds = appendColumn(sequenceIds, batch, length, (b) => next[b]!);
      positions = appendColumn(positions, batch, length, (b) => newPositions[b]!);
      length += 1;
      stepIds = sequenceIds;
      stepPositions = positions;
      stepLength = length;
    }
  }

  for (const [b, tokens] of generated.entries()) {
    if (tokens.length !== options.count) {
      throw new ModelError(`planner row ${b} produced ${tokens.length} of ${options.count} tokens`);
    }
  }
  return generated;
}

/** The present.* outputs become the next step's past_key_values.*, checked for the expected length. */
function presentAsPast(
  outputs: InferenceSession.OnnxValueMapType,
  numLayers: number,
  batch: number,
  kvHeads: number,
  length: number,
  headDim: number,
): Record<string, Tensor> {
  const past: Record<string, Tensor> = {};
  for (let i = 0; i < numLayers; i++) {
    for (const part of ['key', 'value']) {
      const present = outputs[`present.${i}.${part}`] as Tensor | undefined;
      const dims = present?.dims;
      if (
        !present ||
        dims?.[0] !== batch ||
        dims[1] !== kvHeads ||
        dims[2] !== length ||
        dims[3] !== headDim
      ) {
        throw new ModelError(
          `planner present.${i}.${part} has shape [${dims?.join(', ')}], expected [${batch}, ${kvHeads}, ${length}, ${headDim}]`,
        );
      }
      past[`past_key_values.${i}.${part}`] = present;
    }
  }
  return past;
}

function int64Tensor(values: number[], dims: number[]): Tensor {
  return new Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

/** Appends one column to a row-major [batch, length] matrix. */
function appendColumn(
  matrix: number[],
  batch: number,
  length: number,
  value: (row: number) => number,
): number[] {
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) out.push(matrix[b * length + i]!);
    out.push(value(b));
  }
  return out;
}
