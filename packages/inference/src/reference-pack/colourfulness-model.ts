import { DType, GraphBuilder } from './graph-builder.ts';

/** Side of the square image the scorer reads (the evaluator resizes to it). */
export const COLOURFULNESS_IMAGE_SIZE = 256;

/**
 * The reference pack's decode-stage scorer, a stand-in for a learned aesthetic model
 * with the same contract: `pixel_values` float32 [1, 3, S, S] (RGB in [0, 1]) to
 * `score` [1], Hasler and Süsstrunk's colourfulness
 *
 *   M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²),  rg = R - G,  yb = (R + G) / 2 - B
 *
 * (0 for a grey image, about 0.43 where their viewers called an image "extremely
 * colourful"; the manifest maps [0, 0.45] onto [0, 1]).
 */
export function buildColourfulnessModel(): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_colourfulness');
  const x = g.input('pixel_values', DType.float, [1, 3, 'height', 'width']);
  const [r, gr, b] = g.split(x, 3, 1);
  const rg = g.op('Sub', [r!, gr!]);
  const yb = g.op('Sub', [g.op('Mul', [g.op('Add', [r!, gr!]), g.scalar(0.5)]), b!]);
  const mean = (t: string) => g.op('ReduceMean', [t], { axes: [1, 2, 3], keepdims: 0 });
  const square = (t: string) => g.op('Mul', [t, t]);
  const variance = (t: string) => g.op('Relu', [g.op('Sub', [mean(square(t)), square(mean(t))])]);
  const spread = g.op('Sqrt', [g.op('Add', [variance(rg), variance(yb)])]);
  const centre = g.op('Sqrt', [g.op('Add', [square(mean(rg)), square(mean(yb))])]);
  const score = g.op('Add', [spread, g.op('Mul', [centre, g.scalar(0.3)])]);
  g.output('score', score, DType.float, [1]);
  return g.toBytes(17, 'GLM-Image reference pack: colourfulness (Hasler and Süsstrunk) as a quality scorer.');
}
