import { DType, type GraphBuilder } from './graph-builder.ts';
import { F, FEATURE_WIDTH, SEMANTIC_SLOTS } from './planner-features.ts';
import { PALETTE } from './semantic-codebook.ts';

/** How far back (in tokens) a noun looks for its colour, and across how many words. */
const COLOUR_LOOKBACK_TOKENS = 8;
const COLOUR_LOOKBACK_WORDS = 3;
/** Objects with a place of their own; later ones share the last one's colour and kind. */
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
  relation: 34, // RELATION_SLOTS x [direction (+1 above, -1 below), text before, objects before]
} as const;
export const CONTRIBUTION_WIDTH = C.relation + 3 * RELATION_SLOTS;

/**
 * Per-token contributions [B, T, FEATURE_WIDTH] from the token features of the whole
 * sequence so far ([B, T, FEATURE_WIDTH], layer 0's cache). Everything here looks only
 * backwards (shifts and exclusive prefix sums), so a token's contribution is the same
 * however the sequence was chunked.
 *
 * A colour word binds to the first noun after it within a few words, with no other
 * noun in between ("a pale yellow ceiling", "a red brick road"); words inside double
 * quotes are text to draw, not instructions.
 */
export function promptContributions(g: GraphBuilder, history: string): string {
  const f = (v: number) => g.scalar(v);
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const add = (a: string, b: string) => g.op('Add', [a, b]);
  const sub = (a: string, b: string) => g.op('Sub', [a, b]);
  const mul = (...xs: string[]) => xs.reduce((a, b) => g.op('Mul', [a, b]));
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });
  const eq = (x: string, v: number) => toFloat(g.op('Equal', [x, f(v)]));
  const positive = (x: string) => toFloat(g.op('Greater', [x, f(0)]));
  const ch = (x: string, start: number, count = 1) =>
    g.op('Slice', [x, i64([start]), i64([start + count]), i64([-1])]);
  /** Values of the token k positions back (zeros before the start). */
  const shift = (x: string, k: number) =>
    g.op('Slice', [g.op('Pad', [x, i64([0, k, 0, 0, 0, 0])]), i64([0]), i64([-k]), i64([1])]);
  const before = (x: string) => g.op('CumSum', [x, g.scalarInt(1)], { exclusive: 1 });

  // Inside double quotes (an odd number of them before), a token's meaning is dropped.
  const quotesBefore = before(ch(history, F.doubleQuote));
  const inQuote = g.op('Mod', [quotesBefore, f(2)], { fmod: 1 });
  const semantic = g.constFloat(
    Array.from({ length: FEATURE_WIDTH }, (_, i) => (SEMANTIC_SLOTS.includes(i) ? 1 : 0)),
    [FEATURE_WIDTH],
    'semantic_slots',
  );
  const clean = mul(history, sub(f(1), mul(inQuote, semantic)));
  const isNounOf = (x: string) =>
    add(add(ch(x, F.object), ch(x, F.background)), add(ch(x, F.ground), ch(x, F.textNoun)));

  // The colour a noun is given: the nearest colour word before it, within reach.
  let boundId = f(0);
  let boundOneHot = f(0);
  let taken = f(0); // 1 once a nearer colour word was picked
  let nounBetween = f(0);
  let wordsBetween = f(0);
  for (let k = 1; k <= COLOUR_LOOKBACK_TOKENS; k += 1) {
    const back = shift(clean, k);
    const reachable = mul(
      eq(nounBetween, 0),
      toFloat(g.op('LessOrEqual', [wordsBetween, f(COLOUR_LOOKBACK_WORDS)])),
    );
    const pick = mul(ch(back, F.isColour), reachable, sub(f(1), taken));
    boundId = add(boundId, mul(pick, ch(back, F.colourId)));
    boundOneHot = add(boundOneHot, mul(pick, ch(back, F.colour, PALETTE.length)));
    taken = add(taken, pick);
    nounBetween = add(nounBetween, isNounOf(back));
    wordsBetween = add(wordsBetween, ch(back, F.wordStart));
  }
  const isNoun = isNounOf(clean);
  boundId = mul(boundId, isNoun);
  const nounColourId = g.op('Where', [
    g.op('Greater', [boundId, f(0)]),
    boundId,
    mul(ch(clean, F.defaultColourId), isNoun),
  ]);
  const hasColour = positive(nounColourId);
  const firstOf = (x: string) => eq(before(x), 0); // no earlier token had x
  const firstColoured = (slot: number) => {
    const coloured = mul(ch(clean, slot), hasColour);
    return mul(coloured, firstOf(coloured), nounColourId);
  };

  const object = ch(clean, F.object);
  const objectsBefore = before(object);
  const kindId = add(
    add(ch(clean, F.circle), mul(ch(clean, F.square), f(2))),
    mul(ch(clean, F.triangle), f(3)),
  );
  const slotted = (value: string) =>
    Array.from({ length: OBJECT_SLOTS }, (_, k) => mul(object, value, eq(objectsBefore, k)));
  const textNoun = ch(clean, F.textNoun);
  const colouredText = mul(textNoun, positive(boundId));
  const freeColours = sub(ch(clean, F.colour, PALETTE.length), mul(boundOneHot, isNoun));

  // Grid sizes, read after `<sop>`; the preview grid's `<sop>` follows the main grid's `<eop>`.
  const [f1, f2, f3] = [shift(history, 1), shift(history, 2), shift(history, 3)];
  const numberValue = ch(history, F.numberValue);
  const gridHeight = mul(numberValue, ch(f1, F.sop));
  const gridWidth = mul(numberValue, ch(f1, F.isNumber), ch(f2, F.sop));
  const afterEop2 = ch(f2, F.eop);
  const afterEop3 = ch(f3, F.eop);

  const direction = sub(ch(clean, F.above), ch(clean, F.below));
  const relation = add(ch(clean, F.above), ch(clean, F.below));
  const relationsBefore = before(relation);
  const textBefore = positive(before(add(ch(history, F.doubleQuote), textNoun)));
  const relations = Array.from({ length: RELATION_SLOTS }, (_, j) => {
    const gate = mul(relation, eq(relationsBefore, j));
    return [mul(gate, direction), mul(gate, textBefore), mul(gate, objectsBefore)];
  }).flat();

  const parts = [
    firstColoured(F.background),
    ch(clean, F.ground),
    firstColoured(F.ground),
    mul(colouredText, firstOf(colouredText), boundId),
    object,
    ...slotted(nounColourId),
    ...slotted(kindId),
    freeColours,
    ch(history, F.doubleQuote),
    ch(history, F.singleQuote),
    mul(gridHeight, sub(f(1), afterEop2)),
    mul(gridWidth, sub(f(1), afterEop3)),
    mul(gridHeight, afterEop2),
    mul(gridWidth, afterEop3),
    ch(history, F.image),
    ...relations,
  ];
  const contributions = g.op('Concat', parts, { axis: -1 });
  return g.op('Pad', [contributions, i64([0, 0, 0, 0, 0, FEATURE_WIDTH - CONTRIBUTION_WIDTH])]);
}
