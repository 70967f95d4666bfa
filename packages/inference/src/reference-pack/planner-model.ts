import { DType, GraphBuilder } from './graph-builder.ts';
import { CONTRIBUTION_WIDTH, LOOKBACK_TOKENS, promptContributions } from './planner-bindings.ts';
import {
  BEGIN_ROW,
  buildEmbeddingTable,
  END_ROW,
  F,
  FEATURE_WIDTH,
  IMAGE_ROW,
  TABLE_ROWS,
} from './planner-features.ts';
import { sceneLogits } from './planner-scene.ts';
import { sequenceContributions } from './planner-sequence.ts';
import {
  BEGIN_OF_IMAGE_ID,
  END_OF_IMAGE_ID,
  IMAGE_TOKEN_OFFSET,
  REFERENCE_MANIFEST,
} from './reference-manifest.ts';

/**
 * The reference planner: a hand-wired causal LM obeying the Optimum decoder contract.
 *
 * Layer 0's cache holds each token's hand-set features (planner-features.ts), so the
 * features of the whole sequence so far are `concat(past, current)` and read the same
 * with or without a cache. From them, looking only backwards, each token's contribution
 * is computed (planner-bindings.ts: a colour bound to its noun, an object's slot, grid
 * sizes, relations; planner-sequence.ts: where each token stands, image tokens so far);
 * layer 1's cache holds the contributions and the state at each position is their
 * causal sum, from which the scene and the next cell's logits are read (planner-scene.ts).
 * A reference image in the prompt is read back from layer 0's cache, which carries each
 * image token's codebook index: the cell under the next one is a gather at a position the
 * state gives (planner-reference.ts). Sums of small integers are exact in float32 and
 * everything after them is element-wise, so logits do not depend on how the sequence was
 * chunked or padded.
 */

const { numLayers, numKvHeads, headDim } = REFERENCE_MANIFEST.planner;
const IMAGE_VOCAB = REFERENCE_MANIFEST.planner.imageVocab.size;

export function buildPlannerModel(): Uint8Array {
  if (numKvHeads !== 1 || numLayers !== 2 || CONTRIBUTION_WIDTH > FEATURE_WIDTH) {
    throw new Error('the reference planner is wired for 2 layers and 1 KV head');
  }
  const g = new GraphBuilder('reference_planner');
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const where = (c: string, a: string, b: string) => g.op('Where', [c, a, b]);
  const kvDims = ['batch', numKvHeads, 'past_sequence_length', headDim];
  const presentDims = ['batch', numKvHeads, 'total_sequence_length', headDim];

  const inputIds = g.input('input_ids', DType.int64, ['batch', 'sequence_length']);
  const attentionMask = g.input('attention_mask', DType.int64, ['batch', 'total_sequence_length']);
  // Declared for the contract; this model reads order from the cache, not from positions.
  g.input('position_ids', DType.int64, ['batch', 'sequence_length']);
  const past = Array.from({ length: numLayers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, DType.float, kvDims),
    value: g.input(`past_key_values.${i}.value`, DType.float, kvDims),
  }));

  const seqLen = g.op('Slice', [g.op('Shape', [inputIds]), i64([1]), i64([2])]);
  /** The last `seqLen` entries of `x` along `axis`: the current positions. */
  const currentPart = (x: string, axis: number) =>
    g.op('Slice', [x, g.op('Neg', [seqLen]), i64([Number.MAX_SAFE_INTEGER]), i64([axis])]);
  /** Cache entries [B,1,T,headDim] (values, keys) as one [B,T,2*headDim] tensor. */
  const joined = (value: string, key: string) =>
    g.op('Squeeze', [g.op('Concat', [value, key], { axis: -1 }), i64([1])]);
  const tail = (x: string) =>
    g.op('Slice', [x, i64([-LOOKBACK_TOKENS]), i64([Number.MAX_SAFE_INTEGER]), i64([2])]);
  /** Features [B,S,2*headDim] as one layer's cache entries (values, then keys) and their window. */
  const layerCache = (x: string, layer: number) => {
    const current = g.op('Unsqueeze', [x, i64([1])]);
    const half = (from: number) => g.op('Slice', [current, i64([from]), i64([from + headDim]), i64([-1])]);
    const { key: pastKey, value: pastValue } = past[layer]!;
    const value = g.op('Concat', [pastValue, half(0)], { axis: 2 });
    const key = g.op('Concat', [pastKey, half(headDim)], { axis: 2 });
    const window = joined(
      g.op('Concat', [tail(pastValue), half(0)], { axis: 2 }),
      g.op('Concat', [tail(pastKey), half(headDim)], { axis: 2 }),
    );
    return { key, value, window };
  };

  // --- embedding: features per token, zeroed on padding -----------------------------
  const isImage = g.op('GreaterOrEqual', [inputIds, g.scalarInt(IMAGE_TOKEN_OFFSET)]);
  const textRow = g.op('Max', [inputIds, g.scalarInt(0)]);
  const isCodebook = g.op('And', [isImage, g.op('Less', [inputIds, g.scalarInt(END_OF_IMAGE_ID)])]);
  const row = where(
    g.op('Equal', [inputIds, g.scalarInt(BEGIN_OF_IMAGE_ID)]),
    g.scalarInt(BEGIN_ROW),
    where(
      g.op('Equal', [inputIds, g.scalarInt(END_OF_IMAGE_ID)]),
      g.scalarInt(END_ROW),
      where(isImage, g.scalarInt(IMAGE_ROW), textRow),
    ),
  );
  const table = g.constFloat(buildEmbeddingTable(), [TABLE_ROWS, FEATURE_WIDTH], 'embedding');
  const realMask = g.op('Unsqueeze', [
    g.op('Cast', [currentPart(attentionMask, 1)], { to: DType.float }),
    i64([2]),
  ]);
  // An image token's codebook index rides along in its features: a reference image's
  // tokens are looked up in the cache by the cells generated after them.
  const tokenValue = g.op(
    'Cast',
    [where(isCodebook, g.op('Sub', [inputIds, g.scalarInt(IMAGE_TOKEN_OFFSET)]), g.scalarInt(0))],
    {
      to: DType.float,
    },
  );
  const valueSlot = g.constFloat(
    Array.from({ length: FEATURE_WIDTH }, (_, i) => (i === F.tokenValue ? 1 : 0)),
    [FEATURE_WIDTH],
    'token_value_slot',
  );
  const embedded = g.op('Add', [
    g.op('Gather', [table, row], { axis: 0 }),
    g.op('Mul', [g.op('Unsqueeze', [tokenValue, i64([2])]), valueSlot]),
  ]);
  const features = g.op('Mul', [embedded, realMask]); // [B,S,D]

  // --- layer 0: the features of every token so far ----------------------------------
  const layer0 = layerCache(features, 0);
  // --- layer 1: each token's contribution; the state is their causal sum ------------
  const pastSum = (x: string) => g.op('ReduceSum', [x, i64([2])], { keepdims: 0 }); // [B,1,headDim]
  const pastSums = g.op('Concat', [pastSum(past[1]!.value), pastSum(past[1]!.key)], { axis: -1 });
  // Image tokens mean nothing to the prompt analysis; skipping it for steps made of them
  // alone keeps each image step cheap. Where they stand in the sequence counts either way.
  const imageOnly = g.op('GreaterOrEqual', [
    g.op('ReduceMin', [inputIds], { keepdims: 0 }),
    g.scalarInt(IMAGE_TOKEN_OFFSET),
  ]);
  const meaning = g.ifElse(
    imageOnly,
    (sub) => sub.op('Mul', [features, sub.scalar(0)]),
    (sub) => promptContributions(sub, { window: layer0.window, pastSums, currentLength: seqLen }),
  );
  const contributions = g.op('Add', [meaning, sequenceContributions(g, { features, pastSums })]);
  const layer1 = layerCache(contributions, 1);
  const state = g.op('Add', [pastSums, g.op('CumSum', [contributions, g.scalarInt(1)])]);

  // Every token so far (layer 0's keys hold the upper feature slots) and the left padding:
  // what a reference image's cells are read from.
  const keySlot = F.tokenValue - headDim;
  const sequence = {
    values: g.op('Squeeze', [
      g.op('Slice', [layer0.key, i64([keySlot]), i64([keySlot + 1]), i64([-1])]),
      i64([1, 3]),
    ]),
    pads: g.op(
      'ReduceSum',
      [g.op('Sub', [g.scalar(1), g.op('Cast', [attentionMask], { to: DType.float })]), i64([1])],
      {
        keepdims: 1,
      },
    ),
  };
  g.output('logits', sceneLogits(g, state, sequence), DType.float, ['batch', 'sequence_length', IMAGE_VOCAB]);
  [layer0, layer1].forEach(({ key, value }, i) => {
    g.output(`present.${i}.key`, key, DType.float, presentDims);
    g.output(`present.${i}.value`, value, DType.float, presentDims);
  });
  return g.toBytes(17, 'GLM-Image reference planner: hand-set weights, deterministic.');
}
