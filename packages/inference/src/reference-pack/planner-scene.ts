import { DType, type GraphBuilder } from './graph-builder.ts';
import { C, OBJECT_SLOTS, RELATION_SLOTS } from './planner-bindings.ts';
import { referenceCell, type SequenceTokens } from './planner-reference.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { CODEBOOK_SIZE, DETAIL_LEVELS, PALETTE, REGION_COUNT } from './semantic-codebook.ts';

const IMAGE_VOCAB = REFERENCE_MANIFEST.planner.imageVocab.size;
const SPECIAL_LOGITS = IMAGE_VOCAB - CODEBOOK_SIZE;
const WHITE = PALETTE.findIndex((p) => p.name === 'white');
const GRAY = PALETTE.findIndex((p) => p.name === 'gray');
const NEVER = -1e4;
const FAR = 1e3;
/** Region logit per cell of signed distance: cells on a shape's edge are a coin toss. */
const EDGE_STEEPNESS = 2.5;
/** The text panel keeps straight edges: glyphs are laid out in its bounding box. */
const PANEL_EDGE_STEEPNESS = 40;
const COLOUR_MISMATCH = -40;
const DETAIL_SIGMA = 10;

/**
 * Vertical layout, in fractions of the image height (y down). The ground is a band at
 * the bottom; the text panel lies below the objects unless a relation puts the text
 * above them, and above the ground when there is one; objects share what is left, in
 * one row, or in two when a relation stacks them.
 */
const LAYOUT = {
  groundTop: 0.72,
  panelHalfHeight: 0.12,
  panelHalfWidth: 0.44,
  panelCentreTop: 0.18,
  panelCentreAboveGround: 0.56,
  panelCentreBottom: 0.8,
  /** Between the panel and the objects. */
  gap: 0.02,
  margin: 0.04,
  /** An object's radius, at most these fractions of its cell's half height and half width. */
  objectFillHeight: 0.65,
  objectFillWidth: 0.85,
} as const;

/**
 * Logits [B, S, image vocab] of the next image token from the prompt state [B, S, 64]
 * (causal sums of the contributions in planner-bindings.ts): which cell comes next, what
 * the scene puts there, and a shading level sampled around a position-dependent shade.
 *
 * With a reference image in the prompt, the reference lays the scene out instead: each
 * cell keeps the region the reference has under it, and its colour unless the prompt
 * names one for that kind of region ("make the background green").
 */
export function sceneLogits(g: GraphBuilder, state: string, sequence: SequenceTokens): string {
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const f = (v: number) => g.scalar(v);
  const add = (...xs: string[]) => xs.reduce((a, b) => g.op('Add', [a, b]));
  const sub = (a: string, b: string) => g.op('Sub', [a, b]);
  const mul = (...xs: string[]) => xs.reduce((a, b) => g.op('Mul', [a, b]));
  const div = (a: string, b: string) => g.op('Div', [a, b]);
  const max = (a: string, b: string) => g.op('Max', [a, b]);
  const min = (a: string, b: string) => g.op('Min', [a, b]);
  const where = (c: string, a: string, b: string) => g.op('Where', [c, a, b]);
  const and = (...xs: string[]) => xs.reduce((a, b) => g.op('And', [a, b]));
  const or = (...xs: string[]) => xs.reduce((a, b) => g.op('Or', [a, b]));
  const not = (x: string) => g.op('Not', [x]);
  /** `where` for booleans, which ONNX Runtime's Where does not take. */
  const either = (c: string, a: string, b: string) => or(and(c, a), and(not(c), b));
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });
  const toInt = (x: string) => g.op('Cast', [x], { to: DType.int64 });
  const positive = (x: string) => g.op('Greater', [x, f(0)]);
  const ch = (start: number, count = 1) =>
    g.op('Slice', [state, i64([start]), i64([start + count]), i64([-1])]);
  /** A colour slot (palette index + 1, 0 for none) as a palette index, else `fallback`. */
  const colourOr = (id: string, fallback: string) => where(positive(id), sub(id, f(1)), fallback);
  const one = f(1);
  const half = f(0.5);

  // --- what the prompt asked for --------------------------------------------------------
  const free = ch(C.freeColours, PALETTE.length);
  const hasFree = positive(g.op('ReduceSum', [free, i64([-1])], { keepdims: 1 }));
  const freeColour = toFloat(g.op('ArgMax', [free], { axis: -1, keepdims: 1 }));
  const background = colourOr(ch(C.backgroundColourId), colourOr(ch(C.backgroundDefaultId), f(WHITE)));
  const hasGround = positive(ch(C.groundCount));
  const ground = colourOr(ch(C.groundColourId), colourOr(ch(C.groundDefaultId), f(GRAY)));
  const panelColour = colourOr(ch(C.panelColourId), f(WHITE));
  const hasText = or(
    g.op('GreaterOrEqual', [ch(C.doubleQuotes), f(2)]),
    g.op('GreaterOrEqual', [ch(C.singleQuotes), f(2)]),
  );
  const named = min(ch(C.objectCount), f(OBJECT_SLOTS));
  // A colour bound to no noun still asks for something: one circle of it.
  const objects = where(positive(named), named, toFloat(hasFree));

  // Relations: the first one between text and objects places the panel; the first one
  // with objects on both sides stacks them.
  let panelOnTop = g.op('Less', [one, f(0)]);
  let stacked = panelOnTop;
  let split = f(0);
  let firstGroupOnTop = panelOnTop;
  for (let j = RELATION_SLOTS - 1; j >= 0; j -= 1) {
    const direction = ch(C.relation + 3 * j);
    const textBefore = positive(ch(C.relation + 3 * j + 1));
    const objectsBefore = ch(C.relation + 3 * j + 2);
    const above = positive(direction);
    const below = g.op('Less', [direction, f(0)]);
    const objectsAfter = positive(sub(objects, objectsBefore));
    const linksText = and(
      or(above, below),
      hasText,
      or(and(textBefore, objectsAfter), and(not(textBefore), positive(objectsBefore))),
    );
    const textUp = or(and(textBefore, above), and(not(textBefore), below));
    panelOnTop = either(linksText, textUp, panelOnTop);
    const linksObjects = and(or(above, below), positive(objectsBefore), objectsAfter);
    stacked = or(stacked, linksObjects);
    split = where(linksObjects, objectsBefore, split);
    firstGroupOnTop = either(linksObjects, above, firstGroupOnTop);
  }
  panelOnTop = and(panelOnTop, hasText);

  // --- which cell comes next ------------------------------------------------------------
  const k = sub(ch(C.imageTokens), one);
  const [mainH, mainW] = [ch(C.mainHeight), ch(C.mainWidth)];
  const [previewH, previewW] = [ch(C.previewHeight), ch(C.previewWidth)];
  const previewCells = mul(previewH, previewW);
  const inPreview = g.op('Less', [k, previewCells]);
  const done = g.op('GreaterOrEqual', [k, add(previewCells, mul(mainH, mainW))]);
  const gridH = max(where(inPreview, previewH, mainH), one);
  const gridW = max(where(inPreview, previewW, mainW), one);
  const cellIndex = where(inPreview, k, sub(k, previewCells));
  const r = g.op('Floor', [div(cellIndex, gridW)]);
  const c = sub(cellIndex, mul(r, gridW));
  const y = div(add(r, half), gridH);
  const x = div(add(c, half), gridW);
  // Aspect from the main grid so that preview and main grids share one geometry.
  const safeMainH = max(mainH, one);
  const safeMainW = max(mainW, one);
  const shortSide = min(safeMainH, safeMainW);
  const aspectH = div(safeMainH, shortSide);
  const aspectW = div(safeMainW, shortSide);
  const cellUnit = div(aspectH, gridH); // one cell, in short-side units

  // --- vertical bands -------------------------------------------------------------------
  const groundTop = where(hasGround, f(LAYOUT.groundTop), one);
  const panelCentre = where(
    panelOnTop,
    f(LAYOUT.panelCentreTop),
    where(hasGround, f(LAYOUT.panelCentreAboveGround), f(LAYOUT.panelCentreBottom)),
  );
  const panelEdge = LAYOUT.panelHalfHeight + LAYOUT.gap;
  const areaTop = where(panelOnTop, add(panelCentre, f(panelEdge)), f(LAYOUT.margin));
  const areaBottom = where(
    and(hasText, not(panelOnTop)),
    sub(panelCentre, f(panelEdge)),
    where(hasGround, groundTop, f(1 - LAYOUT.margin)),
  );
  const areaMiddle = mul(add(areaTop, areaBottom), half);

  // --- objects: a cell each, shapes inside (short-side units, y down) -------------------
  // Every quantity here is [B, S, OBJECT_SLOTS]: one entry per object slot.
  const index = g.constFloat(
    Array.from({ length: OBJECT_SLOTS }, (_, i) => i),
    [OBJECT_SLOTS],
    'object_slots',
  );
  const present = g.op('Less', [index, objects]);
  const inFirst = g.op('Less', [index, split]);
  const onTopRow = g.op('Equal', [inFirst, firstGroupOnTop]);
  const inRow = where(stacked, where(inFirst, split, sub(objects, split)), max(objects, one));
  const place = where(and(stacked, not(inFirst)), sub(index, split), index);
  const rowTop = where(and(stacked, not(onTopRow)), areaMiddle, areaTop);
  const rowBottom = where(and(stacked, onTopRow), areaMiddle, areaBottom);
  const cy = mul(add(rowTop, rowBottom), half);
  const cx = div(add(place, half), inRow);
  const halfH = mul(sub(rowBottom, rowTop), mul(half, aspectH));
  const halfW = mul(div(half, inRow), aspectW);
  const radius = min(mul(halfH, f(LAYOUT.objectFillHeight)), mul(halfW, f(LAYOUT.objectFillWidth)));
  const kindIds = ch(C.objectKindId, OBJECT_SLOTS); // 1 circle, 2 square, 3 triangle, 0 unnamed
  const kind = where(positive(kindIds), sub(kindIds, one), f(0));
  const colours = colourOr(ch(C.objectColourId, OBJECT_SLOTS), where(hasFree, freeColour, f(GRAY)));

  const dx = mul(sub(x, cx), aspectW);
  const dy = mul(sub(y, cy), aspectH);
  const adx = g.op('Abs', [dx]);
  const dist = g.op('Sqrt', [add(mul(dx, dx), mul(dy, dy))]);
  const sdCircle = sub(dist, radius);
  const sdSquare = sub(max(adx, g.op('Abs', [dy])), mul(radius, f(0.88)));
  const triRadius = mul(radius, f(1.25)); // equilateral, apex up, circumradius triRadius
  const sdTriangle = max(
    sub(dy, mul(triRadius, half)),
    sub(mul(adx, f(Math.sqrt(3) / 2)), mul(add(dy, triRadius), half)),
  );
  const sd = where(
    g.op('Equal', [kind, f(0)]),
    sdCircle,
    where(g.op('Equal', [kind, f(1)]), sdSquare, sdTriangle),
  );
  const sdPresent = where(present, sd, f(FAR));
  // The nearest object (the first on a tie) owns the cell.
  const sdShape = g.op('ReduceMin', [sdPresent], { axes: [-1], keepdims: 1 });
  const nearest = g.op('ArgMin', [sdPresent], { axis: -1, keepdims: 1, select_last_index: 0 });
  const ofNearest = (x: string) => g.op('GatherElements', [x, nearest], { axis: -1 });
  const nearestColour = ofNearest(colours);
  const nearestRatio = ofNearest(min(div(dist, max(radius, f(1e-3))), one));

  const sdPanel = max(
    mul(sub(g.op('Abs', [sub(x, half)]), f(LAYOUT.panelHalfWidth)), aspectW),
    mul(sub(g.op('Abs', [sub(y, panelCentre)]), f(LAYOUT.panelHalfHeight)), aspectH),
  );
  const edgeLogit = (sd: string, steepness = EDGE_STEEPNESS) => mul(div(sd, cellUnit), f(-steepness));
  const zero = mul(k, f(0));
  const never = add(zero, f(NEVER));
  const promptRegionLogits = g.op(
    'Concat',
    [
      zero,
      where(positive(objects), edgeLogit(sdShape), never),
      where(hasText, edgeLogit(sdPanel, PANEL_EDGE_STEEPNESS), never),
      never,
    ],
    { axis: -1 },
  ); // [B,S,4]

  // --- colour per region: the named colour wins, the rest are far below -----------------
  const backgroundHere = where(and(hasGround, g.op('Greater', [y, groundTop])), ground, background);
  const promptColours = g.op(
    'Concat',
    [add(backgroundHere, zero), add(nearestColour, zero), add(panelColour, zero), add(panelColour, zero)],
    { axis: -1 },
  );

  // --- or the reference's layout, recoloured where the prompt says -----------------------
  const hasReference = positive(ch(C.references));
  const reference = referenceCell(g, sequence, {
    start: ch(C.referenceStart),
    row: g.op('Floor', [mul(y, safeMainH)]),
    col: g.op('Floor', [mul(x, safeMainW)]),
    cols: safeMainW,
  });
  const regionIds = g.constFloat([0, 1, 2, 3], [REGION_COUNT], 'region_ids');
  const regionLogits = where(
    hasReference,
    where(g.op('Equal', [reference.region, regionIds]), f(0), f(NEVER)),
    promptRegionLogits,
  );
  const asked = (slot: number) => colourOr(ch(slot), reference.colour);
  const referenceColours = g.op(
    'Concat',
    [asked(C.backgroundColourId), asked(C.objectColourId), asked(C.panelColourId), reference.colour],
    { axis: -1 },
  );
  const regionColour = toInt(where(hasReference, referenceColours, promptColours));
  const palette = g.constInt64(
    Array.from(PALETTE, (_, i) => i),
    [PALETTE.length],
  );
  const colourMatch = g.op('Equal', [g.op('Unsqueeze', [regionColour, i64([-1])]), palette]); // [B,S,4,16]
  const colourLogits = mul(sub(toFloat(colourMatch), one), f(-COLOUR_MISMATCH));

  // --- detail: a Gaussian bump around a position-dependent shade ------------------------
  const bgShade = add(f(60), mul(y, f(120)));
  const shapeShade = sub(f(200), mul(nearestRatio, f(100)));
  const flatShade = add(zero, f(128));
  const shades = g.op('Unsqueeze', [
    g.op('Concat', [add(bgShade, zero), add(shapeShade, zero), flatShade, flatShade], { axis: -1 }),
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
  if (REGION_COUNT !== 4) throw new Error('region logits are wired for four regions');
  return g.op('Concat', [codebookLogits, specialLogits], { axis: -1 });
}
