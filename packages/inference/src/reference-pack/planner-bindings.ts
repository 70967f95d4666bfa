import { DType, type GraphBuilder } from './graph-builder.ts';
import { F, FEATURE_WIDTH, SEMANTIC_SLOTS } from './planner-features.ts';
import { PALETTE } from './semantic-codebook.ts';

/** How far back (in tokens) a noun looks for its colour, and across how many words. */
export const LOOKBACK_TOKENS = 8;
const COLOUR_LOOKBACK_WORDS = 3;
/** Objects with a place, colour and kind of their own; any after them are not drawn. */
export const OBJECT_SLOTS = 3;
/** Relation words whose placement is remembered, in prompt order. */
export const RELATION_SLOTS = 2;

/**
 * Slots of a token's contribution to the prompt state. The state at each position is
 * the causal sum of contributions, so each slot says "how much of this the prompt has
 * asked for so far". Colours travel as palette index + 1 (0: none) and are written by
 * the first noun of their kind only, so their sums stay a single colour.
 */
export const C = {
  backgroundColourId: 0,
  groundCount: 1,
  groundColourId: 2,
  panelColourId: 3,
  objectCount: 4,
  objectColourId: 5, // OBJECT_SLOTS slots
  objectKindId: 8, // OBJECT_SLOTS slots: 1 circle, 2 square, 3 triangle
  freeColours: 11, // 16 slots: colour words bound to no noun
  doubleQuotes: 27,
  singleQuotes: 28,
  mainHeight: 29,
  mainWidth: 30,
  previewHeight: 31,
  previewWidth: 32,
  imageTokens: 33,
  textNouns: 34,
  relation: 35, // RELATION_SLOTS x [direction (+1 above, -1 below), text before, objects before]
  /** Palette index + 1 of the colour the first background noun has by default (sky: blue). */
  backgroundDefaultId: 41,
  groundDefaultId: 42,
  // Sequence bookkeeping (sequenceContributions), the same in every kind of step:
  /** Real tokens so far: a token's index among them is this count before it. */
  tokens: 43,
  /** Reference images in the prompt (their closing end-of-image markers). */
  references: 44,
  /** Index among the real tokens of the first reference's first image token. */
  referenceStart: 45,
  eops: 46,
} as const;
export const CONTRIBUTION_WIDTH = C.eops + 1;

export interface PromptSoFar {
  /**
   * Features [B, W, FEATURE_WIDTH] of the current tokens and the LOOKBACK_TOKENS tokens
   * before them (fewer at the start of the sequence), the current ones last.
   */
  window: string;
  /** Contributions of the earlier tokens summed, [B, 1, FEATURE_WIDTH] (layer 1's cache). */
  pastSums: string;
  /** Number of current tokens, int64 [1]. */
  currentLength: string;
}

/**
 * Contributions [B, S, FEATURE_WIDTH] of the current tokens. Each looks only backwards:
 * at the few tokens before it, and at counts of earlier tokens, which are the cached
 * contributions summed plus those of earlier current tokens. So a token's contribution
 * is the same however the sequence was chunked, and each step costs the same however
 * long the sequence already is.
 *
 * A colour word binds to the first noun after it within a few words, with no other
 * noun in between ("a pale yellow ceiling", "a red brick road"); words inside double
 * quotes are text to draw, not instructions.
 */
export function promptContributions(
  g: GraphBuilder,
  { window, pastSums, currentLength }: PromptSoFar,
): string {
  const f = (v: number) => g.scalar(v);
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const add = (a: string, b: string) => g.op('Add', [a, b]);
  const sub = (a: string, b: string) => g.op('Sub', [a, b]);
  const mul = (...xs: string[]) => xs.reduce((a, b) => g.op('Mul', [a, b]));
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });
  const eq = (x: string, v: number) => toFloat(g.op('Equal', [x, f(v)]));
  const positive = (x: string) => toFloat(g.op('Greater', [x, f(0)]));
  const slice = (x: string, start: number, count: number) =>
    g.op('Slice', [x, i64([start]), i64([start + count]), i64([-1])]);
  const lastOf = (x: string, length: string) =>
    g.op('Slice', [x, g.op('Neg', [length]), i64([Number.MAX_SAFE_INTEGER]), i64([1])]);
  const sumOver = (x: string, axis: number) => g.op('ReduceSum', [x, i64([axis])], { keepdims: 1 });
  const exclusiveSum = (x: string, axis = 1) => g.op('CumSum', [x, g.scalarInt(axis)], { exclusive: 1 });
  const pastSlot = g.split(pastSums, FEATURE_WIDTH);
  const past = (slot: number) => pastSlot[slot]!;
  /** How many earlier tokens had `x`: `pastCount` cached ones, and earlier current ones. */
  const before = (x: string, pastCount: string) => add(pastCount, exclusiveSum(x));

  // Inside double quotes (an odd number of them before), a token's meaning is dropped.
  const quote = slice(window, F.doubleQuote, 1);
  const quotesInWindowPast = sub(sumOver(quote, 1), sumOver(lastOf(quote, currentLength), 1));
  const quotesBeforeWindow = sub(past(C.doubleQuotes), quotesInWindowPast);
  const inQuote = g.op('Mod', [add(quotesBeforeWindow, exclusiveSum(quote)), f(2)], { fmod: 1 });
  const semantic = g.constFloat(
    Array.from({ length: FEATURE_WIDTH }, (_, i) => (SEMANTIC_SLOTS.includes(i) ? 1 : 0)),
    [FEATURE_WIDTH],
    'semantic_slots',
  );
  const clean = mul(window, sub(f(1), mul(inQuote, semantic)));

  // Each current token's LOOKBACK_TOKENS predecessors, nearest first: [B, S, K, D].
  const windowLength = g.op('Slice', [g.op('Shape', [window]), i64([1]), i64([2])]);
  const positions = g.op('Unsqueeze', [
    g.op('Range', [
      g.op('Squeeze', [sub(windowLength, currentLength), i64([0])]),
      g.op('Squeeze', [windowLength, i64([0])]),
      g.scalarInt(1),
    ]),
    i64([1]),
  ]); // [S,1], window index of each current token
  const steps = g.constInt64(
    Array.from({ length: LOOKBACK_TOKENS }, (_, k) => LOOKBACK_TOKENS - 1 - k),
    [1, LOOKBACK_TOKENS],
  ); // padded index of k+1 back is position + K - (k+1)
  const padded = g.op('Pad', [clean, i64([0, LOOKBACK_TOKENS, 0, 0, 0, 0])]);
  const back = g.op('Gather', [padded, g.op('Add', [positions, steps])], { axis: 1 });
  const backSlot = g.split(back, FEATURE_WIDTH);
  const nounOf = (slots: string[]) =>
    add(add(slots[F.object]!, slots[F.background]!), add(slots[F.ground]!, slots[F.textNoun]!));

  // The colour a noun is given: the nearest colour word before it, within reach.
  const nounBetween = exclusiveSum(nounOf(backSlot), 2);
  const wordsBetween = exclusiveSum(backSlot[F.wordStart]!, 2);
  // A colour word that follows a noun of its own ("the circle red, on a wall") is that
  // noun's (see `predicative` below): no later noun takes it. For window entries k < j,
  // the tokens between them are the entries k+1..j-1.
  const nonLinking = sub(f(1), backSlot[F.linking]!);
  const nearer = exclusiveSum(nonLinking, 2); // [B,S,K,1]: non-linking entries nearer than k
  const between = sub(g.op('Transpose', [nearer], { perm: [0, 1, 3, 2] }), add(nearer, nonLinking)); // [B,S,k,j]
  const fartherEntries = g.constFloat(
    Array.from({ length: LOOKBACK_TOKENS * LOOKBACK_TOKENS }, (_, i) =>
      i % LOOKBACK_TOKENS > Math.floor(i / LOOKBACK_TOKENS) ? 1 : 0,
    ),
    [LOOKBACK_TOKENS, LOOKBACK_TOKENS],
    'farther_entries',
  );
  const ownNoun = g.op(
    'ReduceMax',
    [mul(g.op('Transpose', [nounOf(backSlot)], { perm: [0, 1, 3, 2] }), eq(between, 0), fartherEntries)],
    { axes: [-1], keepdims: 1 },
  ); // [B,S,K,1]
  const candidate = mul(
    backSlot[F.isColour]!,
    sub(f(1), ownNoun),
    eq(nounBetween, 0),
    toFloat(g.op('LessOrEqual', [wordsBetween, f(COLOUR_LOOKBACK_WORDS)])),
  );
  const pick = mul(candidate, eq(exclusiveSum(candidate, 2), 0)); // [B,S,K,1]
  const picked = g.op('Squeeze', [
    g.op('MatMul', [g.op('Transpose', [pick], { perm: [0, 1, 3, 2] }), back]),
    i64([2]),
  ]); // [B,S,D]: the features of the colour word picked, or zeros

  // From here on, the current tokens only.
  const now = lastOf(clean, currentLength);
  const nowSlot = g.split(now, FEATURE_WIDTH);
  const isNoun = nounOf(nowSlot);
  const boundId = mul(g.split(picked, FEATURE_WIDTH)[F.colourId]!, isNoun);
  const boundOneHot = mul(slice(picked, F.colour, PALETTE.length), isNoun);
  const defaultId = mul(nowSlot[F.defaultColourId]!, isNoun);
  const nounColourId = g.op('Where', [g.op('Greater', [boundId, f(0)]), boundId, defaultId]);

  // A colour after its noun ("make the background green", "the circle that is red"): it
  // belongs to the nearest noun before it when only linking words stand between them.
  const nounBefore = mul(nounOf(backSlot), eq(nearer, 0)); // [B,S,K,1], one k at most
  const target = g.split(
    g.op('Squeeze', [
      g.op('MatMul', [g.op('Transpose', [nounBefore], { perm: [0, 1, 3, 2] }), back]),
      i64([2]),
    ]),
    FEATURE_WIDTH,
  ); // the features of that noun, or zeros
  const predicative = mul(nowSlot[F.isColour]!, nounOf(target));
  const predicativeId = mul(predicative, nowSlot[F.colourId]!);
  /**
   * What the first writer of `pastSlotIndex` writes: a noun of kind `slot` with a colour
   * (`colourId`), or a colour word following a noun of that kind.
   */
  const firstColoured = (slot: number, pastSlotIndex: number, colourId = nounColourId) => {
    const byNoun = mul(nowSlot[slot]!, positive(colourId));
    const byColour = mul(predicative, target[slot]!);
    const writes = add(byNoun, byColour);
    const earlier = add(positive(past(pastSlotIndex)), exclusiveSum(writes));
    return mul(eq(earlier, 0), add(mul(byNoun, colourId), mul(byColour, predicativeId)));
  };
  /** The default colour of the first noun of `slot` that has one, whatever it was given. */
  const firstDefault = (slot: number, pastSlotIndex: number) => {
    const has = mul(nowSlot[slot]!, positive(defaultId));
    const earlier = add(positive(past(pastSlotIndex)), exclusiveSum(has));
    return mul(has, eq(earlier, 0), defaultId);
  };

  // Grid sizes, read after `<sop>`; the preview grid's `<sop>` follows the main grid's `<eop>`.
  const backAt = (k: number, slot: number) =>
    g.op('Squeeze', [g.op('Slice', [backSlot[slot]!, i64([k - 1]), i64([k]), i64([2])]), i64([2])]);
  const numberValue = nowSlot[F.numberValue]!;
  const gridHeight = mul(numberValue, backAt(1, F.sop));
  const gridWidth = mul(numberValue, backAt(1, F.isNumber), backAt(2, F.sop));
  const afterEop2 = backAt(2, F.eop);
  const afterEop3 = backAt(3, F.eop);

  const object = nowSlot[F.object]!;
  const objectsBefore = before(object, past(C.objectCount));
  const kindId = add(add(nowSlot[F.circle]!, mul(nowSlot[F.square]!, f(2))), mul(nowSlot[F.triangle]!, f(3)));
  const slotted = (value: string) =>
    Array.from({ length: OBJECT_SLOTS }, (_, k) => mul(object, value, eq(objectsBefore, k)));
  // An object's colour: its noun's, or else a colour following it (the latest object).
  const objectColours = Array.from({ length: OBJECT_SLOTS }, (_, k) => {
    const byNoun = mul(object, eq(objectsBefore, k));
    const byColour = mul(predicative, target[F.object]!, eq(objectsBefore, k + 1));
    const writes = add(mul(byNoun, positive(nounColourId)), byColour);
    const earlier = add(positive(past(C.objectColourId + k)), exclusiveSum(writes));
    return add(mul(byNoun, nounColourId), mul(byColour, eq(earlier, 0), predicativeId));
  });
  const textNoun = nowSlot[F.textNoun]!;
  const freeColours = sub(mul(slice(now, F.colour, PALETTE.length), sub(f(1), predicative)), boundOneHot);

  const direction = sub(nowSlot[F.above]!, nowSlot[F.below]!);
  const relation = add(nowSlot[F.above]!, nowSlot[F.below]!);
  const pastRelations = Array.from({ length: RELATION_SLOTS }, (_, j) =>
    g.op('Abs', [past(C.relation + 3 * j)]),
  ).reduce(add);
  const relationsBefore = before(relation, pastRelations);
  const doubleQuote = nowSlot[F.doubleQuote]!; // quote marks are never masked
  const textBefore = positive(
    before(add(doubleQuote, textNoun), add(past(C.doubleQuotes), past(C.textNouns))),
  );
  const relations = Array.from({ length: RELATION_SLOTS }, (_, j) => {
    const gate = mul(relation, eq(relationsBefore, j));
    return [mul(gate, direction), mul(gate, textBefore), mul(gate, objectsBefore)];
  }).flat();

  const none = mul(object, f(0));
  const parts = [
    firstColoured(F.background, C.backgroundColourId, boundId),
    nowSlot[F.ground]!,
    firstColoured(F.ground, C.groundColourId, boundId),
    firstColoured(F.textNoun, C.panelColourId, boundId),
    object,
    ...objectColours,
    ...slotted(kindId),
    freeColours,
    doubleQuote,
    nowSlot[F.singleQuote]!,
    mul(gridHeight, sub(f(1), afterEop2)),
    mul(gridWidth, sub(f(1), afterEop3)),
    mul(gridHeight, afterEop2),
    mul(gridWidth, afterEop3),
    none, // image tokens: sequenceContributions
    textNoun,
    ...relations,
    firstDefault(F.background, C.backgroundDefaultId),
    firstDefault(F.ground, C.groundDefaultId),
    ...[C.tokens, C.references, C.referenceStart, C.eops].map(() => none),
  ];
  const contributions = g.op('Concat', parts, { axis: -1 });
  return g.op('Pad', [contributions, i64([0, 0, 0, 0, 0, FEATURE_WIDTH - CONTRIBUTION_WIDTH])]);
}
