import { DType, type GraphBuilder } from './graph-builder.ts';
import { C } from './planner-bindings.ts';
import { F, FEATURE_WIDTH } from './planner-features.ts';

/**
 * Contributions [B, S, FEATURE_WIDTH] every token makes, whatever else it means and in
 * whatever kind of step it arrives: where it stands in the sequence. Image tokens count
 * toward the grid being generated only once the prompt has given the grid sizes (after an
 * `<eop>`), so a reference image's tokens ahead of the text do not; the first
 * begin-of-image before any end-of-image opens the first reference.
 */
export function sequenceContributions(
  g: GraphBuilder,
  { features, pastSums }: { features: string; pastSums: string },
): string {
  const f = (v: number) => g.scalar(v);
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const mul = (...xs: string[]) => xs.reduce((a, b) => g.op('Mul', [a, b]));
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });
  const slot = (index: number) => g.op('Slice', [features, i64([index]), i64([index + 1]), i64([-1])]);
  const past = (index: number) => g.op('Slice', [pastSums, i64([index]), i64([index + 1]), i64([-1])]);
  /** How many earlier tokens had `x`: cached ones (`pastCount`), and earlier current ones. */
  const before = (x: string, pastCount: string) =>
    g.op('Add', [pastCount, g.op('CumSum', [x, g.scalarInt(1)], { exclusive: 1 })]);

  const eopsBefore = before(slot(F.eop), past(C.eops));
  const endsBefore = before(slot(F.endOfImage), past(C.references));
  const index = before(slot(F.real), past(C.tokens));
  const values: Array<[number, string]> = [
    [C.tokens, slot(F.real)],
    [C.references, slot(F.endOfImage)],
    [
      C.referenceStart,
      mul(slot(F.beginOfImage), toFloat(g.op('Equal', [endsBefore, f(0)])), g.op('Add', [index, f(1)])),
    ],
    [C.eops, slot(F.eop)],
    [C.imageTokens, mul(slot(F.image), toFloat(g.op('Greater', [eopsBefore, f(0)])))],
  ];
  const placement = new Float32Array(values.length * FEATURE_WIDTH);
  values.forEach(([target], i) => {
    placement[i * FEATURE_WIDTH + target] = 1;
  });
  return g.op('MatMul', [
    g.op(
      'Concat',
      values.map(([, value]) => value),
      { axis: -1 },
    ),
    g.constFloat(placement, [values.length, FEATURE_WIDTH], 'sequence_slots'),
  ]);
}
