import { DType, GraphBuilder } from './graph-builder.ts';
import {
  BACKGROUND_NOUNS,
  COLOUR_WORDS,
  DOUBLE_QUOTES,
  SHAPE_NOUNS,
  SINGLE_QUOTES,
  TEXT_NOUNS,
} from './planner-vocabulary.ts';
import {
  BEGIN_OF_IMAGE_ID,
  END_OF_IMAGE_ID,
  IMAGE_TOKEN_OFFSET,
  REFERENCE_MANIFEST,
} from './reference-manifest.ts';
import { CODEBOOK_SIZE, DETAIL_LEVELS, PALETTE, REGION_COUNT } from './semantic-codebook.ts';
import { buildTextVocabulary, EOP_TOKEN, SOP_TOKEN } from './tokenizer-json.ts';

/**
 * The reference planner: a hand-wired causal LM obeying the Optimum decoder contract.
 *
 * Layer 0's cache holds each token's hand-set features, so features of the previous
 * tokens are a shifted slice of `concat(past, current)` and read the same with or
 * without a cache. Layer 1's cache holds per-token contributions (colour bound to a
 * background or shape noun, grid sizes read after `<sop>`, quote marks, image tokens
 * so far), and the state at each position is their causal sum. Sums of small integers
 * are exact in float32 and everything after them is element-wise, so logits do not
 * depend on how the sequence was chunked or padded.
 */

const { numLayers, numKvHeads, headDim } = REFERENCE_MANIFEST.planner;
const IMAGE_VOCAB = REFERENCE_MANIFEST.planner.imageVocab.size;
const SPECIAL_LOGITS = IMAGE_VOCAB - CODEBOOK_SIZE;

/** Feature slots of layer 0 (per token). */
const F = {
  colour: 0, // 16 slots, one-hot palette colour
  circle: 16,
  square: 17,
  triangle: 18,
  background: 19,
  textNoun: 20,
  doubleQuote: 21,
  singleQuote: 22,
  isNumber: 23,
  numberValue: 24,
  sop: 25,
  eop: 26,
  beginOfImage: 27,
  image: 28, // any id in the image range, <|begin_of_image|> included
  shapeNoun: 29,
} as const;

/** Rows of the embedding table above the text ids. */
const IMAGE_ROW = IMAGE_TOKEN_OFFSET;
const BEGIN_ROW = IMAGE_TOKEN_OFFSET + 1;
const END_ROW = IMAGE_TOKEN_OFFSET + 2;
const TABLE_ROWS = IMAGE_TOKEN_OFFSET + 3;

const WHITE = PALETTE.findIndex((p) => p.name === 'white');
const GRAY = PALETTE.findIndex((p) => p.name === 'gray');
const NEVER = -1e4;
/** Region logit per cell of signed distance: cells on a shape's edge are a coin toss. */
const EDGE_STEEPNESS = 2.5;
/** The text panel keeps straight edges: glyphs are laid out in its bounding box. */
const PANEL_EDGE_STEEPNESS = 40;
const COLOUR_MISMATCH = -40;
const DETAIL_SIGMA = 10;

function buildEmbeddingTable(): Float32Array {
  if (headDim < 2 * PALETTE.length || numKvHeads !== 1 || numLayers !== 2) {
    throw new Error('the reference planner is wired for 2 layers, 1 KV head and headDim >= 32');
  }
  const table = new Float32Array(TABLE_ROWS * headDim);
  const set = (row: number, slot: number, value = 1) => {
    table[row * headDim + slot] = value;
  };
  const vocab = buildTextVocabulary();
  const idOf = (word: string) => vocab.get(word) ?? -1;
  for (const [word, colour] of COLOUR_WORDS) set(idOf(word), F.colour + colour);
  for (const [word, kind] of SHAPE_NOUNS) {
    set(idOf(word), F.circle + kind);
    set(idOf(word), F.shapeNoun);
  }
  for (const word of BACKGROUND_NOUNS) set(idOf(word), F.background);
  for (const word of TEXT_NOUNS) set(idOf(word), F.textNoun);
  for (const mark of DOUBLE_QUOTES) set(idOf(mark), F.doubleQuote);
  for (const mark of SINGLE_QUOTES) set(idOf(mark), F.singleQuote);
  for (const [token, id] of vocab) {
    if (/^[0-9]+$/.test(token)) {
      set(id, F.isNumber);
      set(id, F.numberValue, Number(token));
    }
  }
  set(idOf(SOP_TOKEN), F.sop);
  set(idOf(EOP_TOKEN), F.eop);
  for (const row of [IMAGE_ROW, BEGIN_ROW, END_ROW]) set(row, F.image);
  set(BEGIN_ROW, F.beginOfImage);
  return table;
}

export function buildPlannerModel(): Uint8Array {
  const g = new GraphBuilder('reference_planner');
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const f = (v: number) => g.scalar(v);
  const add = (a: string, b: string) => g.op('Add', [a, b]);
  const sub = (a: string, b: string) => g.op('Sub', [a, b]);
  const mul = (a: string, b: string) => g.op('Mul', [a, b]);
  const div = (a: string, b: string) => g.op('Div', [a, b]);
  const max = (a: string, b: string) => g.op('Max', [a, b]);
  const min = (a: string, b: string) => g.op('Min', [a, b]);
  const where = (c: string, a: string, b: string) => g.op('Where', [c, a, b]);
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });
  /** Channels [start, start+count) of the last axis. */
  const ch = (x: string, start: number, count = 1) =>
    g.op('Slice', [x, i64([start]), i64([start + count]), i64([-1])]);
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
  const pastLen = g.op('Slice', [g.op('Shape', [past[0]!.key]), i64([2]), i64([3])]);
  const endOfAxis = i64([Number.MAX_SAFE_INTEGER]);
  /** The last `seqLen` entries of `x` along `axis`: the current positions. */
  const currentPart = (x: string, axis: number) =>
    g.op('Slice', [x, g.op('Neg', [seqLen]), endOfAxis, i64([axis])]);

  // --- embedding: features per token, zeroed on padding -----------------------------
  const isImage = g.op('GreaterOrEqual', [inputIds, g.scalarInt(IMAGE_TOKEN_OFFSET)]);
  const textRow = g.op('Max', [inputIds, g.scalarInt(0)]);
  const row = where(
    g.op('Equal', [inputIds, g.scalarInt(BEGIN_OF_IMAGE_ID)]),
    g.scalarInt(BEGIN_ROW),
    where(
      g.op('Equal', [inputIds, g.scalarInt(END_OF_IMAGE_ID)]),
      g.scalarInt(END_ROW),
      where(isImage, g.scalarInt(IMAGE_ROW), textRow),
    ),
  );
  const table = g.constFloat(buildEmbeddingTable(), [TABLE_ROWS, headDim], 'embedding');
  const realMask = g.op('Unsqueeze', [toFloat(currentPart(attentionMask, 1)), i64([2])]);
  const features = mul(g.op('Gather', [table, row], { axis: 0 }), realMask); // [B,S,D]

  // --- layer 0: the cache remembers features; look back up to three tokens ------------
  const current0 = g.op('Unsqueeze', [features, i64([1])]);
  const present0Key = g.op('Concat', [past[0]!.key, current0], { axis: 2 });
  const present0Value = g.op('Concat', [past[0]!.value, current0], { axis: 2 });
  const maxLookback = 3;
  const padded = g.op('Pad', [present0Value, i64([0, 0, maxLookback, 0, 0, 0, 0, 0])]);
  const lookback = (k: number) => {
    const start = add(pastLen, i64([maxLookback - k]));
    const slice = g.op('Slice', [padded, start, add(start, seqLen), i64([2])]);
    return g.op('Squeeze', [slice, i64([1])]);
  };
  const [f1, f2, f3] = [lookback(1), lookback(2), lookback(3)];
  const f0 = features;

  // --- layer 1 contributions ---------------------------------------------------------
  const prevColour = ch(f1, F.colour, PALETTE.length);
  const one = f(1);
  const numberValue = ch(f0, F.numberValue);
  const gridHeight = mul(numberValue, ch(f1, F.sop)); // "<sop> h"
  const gridWidth = mul(mul(numberValue, ch(f1, F.isNumber)), ch(f2, F.sop)); // "<sop> h w"
  const afterEop2 = ch(f2, F.eop); // the preview grid's <sop> follows the main grid's <eop>
  const afterEop3 = ch(f3, F.eop);
  const key1Parts = [mul(prevColour, ch(f0, F.background)), mul(prevColour, ch(f0, F.shapeNoun))];
  const toHeadDim = (parts: string[], width: number) =>
    g.op('Pad', [g.op('Concat', parts, { axis: -1 }), i64([0, 0, 0, 0, 0, headDim - width])]);
  const key1 = toHeadDim(key1Parts, 2 * PALETTE.length);
  const value1Parts = [
    ch(f0, F.colour, PALETTE.length),
    ch(f0, F.circle, 3),
    ch(f0, F.doubleQuote),
    ch(f0, F.singleQuote),
    mul(gridHeight, sub(one, afterEop2)),
    mul(gridWidth, sub(one, afterEop3)),
    mul(gridHeight, afterEop2),
    mul(gridWidth, afterEop3),
    ch(f0, F.image),
  ];
  const value1Width = PALETTE.length + 3 + 2 + 4 + 1;
  const value1 = toHeadDim(value1Parts, value1Width);
  const present1Key = g.op('Concat', [past[1]!.key, g.op('Unsqueeze', [key1, i64([1])])], { axis: 2 });
  const present1Value = g.op('Concat', [past[1]!.value, g.op('Unsqueeze', [value1, i64([1])])], { axis: 2 });
  const causalSum = (x: string) =>
    g.op('Squeeze', [currentPart(g.op('CumSum', [x, g.scalarInt(2)]), 2), i64([1])]);
  const stateKey = causalSum(present1Key);
  const stateValue = causalSum(present1Value);

  // --- readout: what the prompt asked for ----------------------------------------------
  const bgCounts = ch(stateKey, 0, PALETTE.length);
  const shapeColourCounts = ch(stateKey, PALETTE.length, PALETTE.length);
  const colourCounts = ch(stateValue, 0, PALETTE.length);
  let at = PALETTE.length;
  const next = () => ch(stateValue, at++);
  const [circles, squares, triangles, doubleQuotes, singleQuotes] = [next(), next(), next(), next(), next()];
  const [mainH, mainW, previewH, previewW, imageCount] = [next(), next(), next(), next(), next()];

  const total = (x: string) => g.op('ReduceSum', [x, i64([-1])], { keepdims: 1 });
  const argmax = (x: string) => g.op('ArgMax', [x], { axis: -1, keepdims: 1 });
  const positive = (x: string) => g.op('Greater', [x, f(0)]);
  const freeColours = sub(colourCounts, bgCounts);
  const bgColour = where(positive(total(bgCounts)), argmax(bgCounts), g.scalarInt(WHITE));
  const shapeColour = where(
    positive(total(shapeColourCounts)),
    argmax(shapeColourCounts),
    where(positive(total(freeColours)), argmax(freeColours), g.scalarInt(GRAY)),
  );
  const panelColour = add(mul(bgColour, g.scalarInt(0)), g.scalarInt(WHITE));
  const hasShape = g.op('Or', [
    positive(add(add(circles, squares), triangles)),
    positive(total(freeColours)),
  ]);
  const hasText = g.op('Or', [
    g.op('GreaterOrEqual', [doubleQuotes, f(2)]),
    g.op('GreaterOrEqual', [singleQuotes, f(2)]),
  ]);
  const textOn = toFloat(hasText);

  // --- which cell comes next ------------------------------------------------------------
  const k = sub(imageCount, one);
  const previewCells = mul(previewH, previewW);
  const inPreview = g.op('Less', [k, previewCells]);
  const done = g.op('GreaterOrEqual', [k, add(previewCells, mul(mainH, mainW))]);
  const gridH = max(where(inPreview, previewH, mainH), one);
  const gridW = max(where(inPreview, previewW, mainW), one);
  const cellIndex = where(inPreview, k, sub(k, previewCells));
  const r = g.op('Floor', [div(cellIndex, gridW)]);
  const c = sub(cellIndex, mul(r, gridW));
  const half = f(0.5);
  const y = div(add(r, half), gridH);
  const x = div(add(c, half), gridW);
  // Aspect from the main grid so that preview and main grids share one geometry.
  const safeMainH = max(mainH, one);
  const safeMainW = max(mainW, one);
  const shortSide = min(safeMainH, safeMainW);
  const aspectH = div(safeMainH, shortSide);
  const aspectW = div(safeMainW, shortSide);
  const cellUnit = div(aspectH, gridH); // one cell, in short-side units

  // --- shape and panel geometry (short-side units, y down) -------------------------------
  const centreY = sub(f(0.5), mul(textOn, f(0.14)));
  const radius = sub(f(0.3), mul(textOn, f(0.08)));
  const dx = mul(sub(x, half), aspectW);
  const dy = mul(sub(y, centreY), aspectH);
  const adx = g.op('Abs', [dx]);
  const dist = g.op('Sqrt', [add(mul(dx, dx), mul(dy, dy))]);
  const sdCircle = sub(dist, radius);
  const sdSquare = sub(max(adx, g.op('Abs', [dy])), mul(radius, f(0.88)));
  const triRadius = mul(radius, f(1.25)); // equilateral, apex up, circumradius triRadius
  const sdTriangle = max(
    sub(dy, mul(triRadius, half)),
    sub(mul(adx, f(Math.sqrt(3) / 2)), mul(add(dy, triRadius), half)),
  );
  const triangleOn = min(triangles, one);
  const squareOn = mul(min(squares, one), sub(one, triangleOn));
  const circleOn = sub(sub(one, triangleOn), squareOn);
  const sdShape = add(add(mul(circleOn, sdCircle), mul(squareOn, sdSquare)), mul(triangleOn, sdTriangle));
  const sdPanel = max(
    mul(sub(g.op('Abs', [sub(x, half)]), f(0.44)), aspectW),
    mul(sub(g.op('Abs', [sub(y, f(0.8))]), f(0.12)), aspectH),
  );
  const edgeLogit = (sd: string, steepness = EDGE_STEEPNESS) => mul(div(sd, cellUnit), f(-steepness));
  const zero = mul(k, f(0));
  const never = add(zero, f(NEVER));
  const regionLogits = g.op(
    'Concat',
    [
      zero,
      where(hasShape, edgeLogit(sdShape), never),
      where(hasText, edgeLogit(sdPanel, PANEL_EDGE_STEEPNESS), never),
      never,
    ],
    { axis: -1 },
  ); // [B,S,4]

  // --- colour per region: the named colour wins, the rest are far below -----------------
  const regionColour = g.op('Concat', [bgColour, shapeColour, panelColour, panelColour], { axis: -1 });
  const palette = g.constInt64(
    Array.from(PALETTE, (_, i) => i),
    [PALETTE.length],
  );
  const colourMatch = g.op('Equal', [g.op('Unsqueeze', [regionColour, i64([-1])]), palette]); // [B,S,4,16]
  const colourLogits = mul(sub(toFloat(colourMatch), one), f(-COLOUR_MISMATCH));

  // --- detail: a Gaussian bump around a position-dependent shade ------------------------
  const bgShade = add(f(60), mul(y, f(120)));
  const shapeShade = sub(f(200), mul(min(div(dist, radius), one), f(100)));
  const flatShade = add(zero, f(128));
  const shades = g.op('Unsqueeze', [
    g.op('Concat', [bgShade, shapeShade, flatShade, flatShade], { axis: -1 }),
    i64([-1]),
  ]);
  const levels = g.constFloat(
    Array.from({ length: DETAIL_LEVELS }, (_, i) => i),
    [DETAIL_LEVELS],
  );
  const offset = sub(levels, shades); // [B,S,4,256]
  const detailLogits = mul(mul(offset, offset), f(-1 / (2 * DETAIL_SIGMA * DETAIL_SIGMA)));

  const joint = add(
    add(g.op('Unsqueeze', [regionLogits, i64([-1, -2])]), g.op('Unsqueeze', [colourLogits, i64([-1])])),
    g.op('Unsqueeze', [detailLogits, i64([-2])]),
  ); // [B,S,4,16,256]
  const doneWide = g.op('Unsqueeze', [done, i64([-1, -2])]);
  const codebookLogits = g.op('Reshape', [where(doneWide, f(NEVER), joint), i64([0, 0, CODEBOOK_SIZE])]);
  const endBump = Array.from({ length: SPECIAL_LOGITS }, (_, i) => (i === 0 ? -NEVER : 0));
  const specialLogits = add(
    g.constFloat(new Array(SPECIAL_LOGITS).fill(NEVER), [SPECIAL_LOGITS]),
    mul(toFloat(done), g.constFloat(endBump, [SPECIAL_LOGITS])),
  );
  const logits = g.op('Concat', [codebookLogits, specialLogits], { axis: -1 });

  g.output('logits', logits, DType.float, ['batch', 'sequence_length', IMAGE_VOCAB]);
  const presents = [
    [present0Key, present0Value],
    [present1Key, present1Value],
  ];
  presents.forEach(([key, value], i) => {
    g.output(`present.${i}.key`, key!, DType.float, presentDims);
    g.output(`present.${i}.value`, value!, DType.float, presentDims);
  });
  if (REGION_COUNT !== 4) throw new Error('region logits are wired for four regions');
  return g.toBytes(17, 'GLM-Image reference planner: hand-set weights, deterministic.');
}
