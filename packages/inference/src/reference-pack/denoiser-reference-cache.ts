import { type ReferenceCacheSpec, referenceCacheNames } from '../model-pack-manifest.ts';
import { DType, type GraphBuilder } from './graph-builder.ts';
import { upsampleNearest } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { DETAIL_LEVELS, PALETTE, Region } from './semantic-codebook.ts';

const { latentChannels } = REFERENCE_MANIFEST.decoder;
/** Latent cells per prior token along each axis: prior tokens cover 16 pixels, latent cells 8. */
const PATCH = 2;
/**
 * Largest distance (normalised RGB) between a reference's latent cell and the planned
 * colour for the reference's cell to be kept: shades of one palette colour are well
 * inside it, two palette colours or a mix at an outline well outside.
 */
const SAME_COLOUR_DISTANCE = 0.6;
/** One cached entry per prior token: the token (keys), its 2x2 latent cells (values). */
export const REFERENCE_HEAD_DIM = latentChannels * PATCH * PATCH;

/**
 * The reference denoiser's key/value cache of reference images, shaped like a DiT's
 * (one layer, one head, one entry per latent patch token):
 *
 * - filling (the reference's normalised latent as `sample`, timestep 0, its own prior
 *   tokens): each patch token's key holds its semantic token, its value the patch's
 *   latent cells;
 * - reading (every step): where a row's mask is on and the planned token at a patch
 *   means what the first reference has there (same region and colour, text panels
 *   excepted: their glyphs come from the prompt), the clean latent the denoiser steers
 *   to is the reference's own, cell by cell where it looks like the plan. So what an
 *   edit leaves alone keeps the reference's exact look, and what it changes follows the
 *   plan.
 *
 * A trained DiT attends to every reference; this one reads the first.
 */
export function referenceCache(
  g: GraphBuilder,
  spec: ReferenceCacheSpec,
  sample: string,
  prior: string,
): { read(x0: string): string } {
  if (spec.numLayers !== 1 || spec.numHeads !== 1 || spec.headDim !== REFERENCE_HEAD_DIM) {
    throw new Error(`the reference cache is wired for 1 layer, 1 head and ${REFERENCE_HEAD_DIM} dims`);
  }
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const names = referenceCacheNames(spec);
  const [keyIn, valueIn] = names.inputs as [string, string];
  const [keyOut, valueOut] = names.outputs as [string, string];
  const cacheDims = ['batch', spec.numHeads, 'reference_length', spec.headDim];
  const pastKey = g.input(keyIn, DType.float, cacheDims);
  const pastValue = g.input(valueIn, DType.float, cacheDims);
  const mask = g.input(names.mask, DType.int64, ['batch', 'reference_length']);

  // --- filling: keys and values of this pass's patch tokens ---------------------------
  const tokens = g.op('Cast', [prior], { to: DType.float }); // [B, pH, pW]
  const key = g.op('Pad', [
    g.op('Reshape', [tokens, i64([0, 1, -1, 1])]),
    i64([0, 0, 0, 0, 0, 0, 0, spec.headDim - 1]),
  ]);
  const patches = g.op('SpaceToDepth', [sample], { blocksize: PATCH }); // [B, 64, pH, pW]
  const value = g.op('Unsqueeze', [
    g.op('Transpose', [g.op('Reshape', [patches, i64([0, 0, -1])])], { perm: [0, 2, 1] }),
    i64([1]),
  ]);
  const presentDims = ['batch', spec.numHeads, 'sequence_length', spec.headDim];
  g.output(keyOut, key, DType.float, presentDims);
  g.output(valueOut, value, DType.float, presentDims);

  // --- reading -------------------------------------------------------------------------
  const referenceLength = g.op('Slice', [g.op('Shape', [mask]), i64([1]), i64([2])]);
  const hasReference = g.op('Squeeze', [g.op('Greater', [referenceLength, g.scalarInt(0)]), i64([0])]);
  return {
    read: (x0) =>
      g.ifElse(
        hasReference,
        (sub) => {
          const priorShape = sub.op('Shape', [prior]);
          const dim = (axis: number) => sub.op('Slice', [priorShape, i64([axis]), i64([axis + 1])]);
          const count = sub.op('Mul', [dim(1), dim(2)]); // patch tokens of one reference
          const first = (x: string, axis: number) => sub.op('Slice', [x, i64([0]), count, i64([axis])]);
          const cachedToken = sub.op('Reshape', [
            sub.op('Slice', [first(pastKey, 2), i64([0]), i64([1]), i64([3])]),
            i64([0, -1]),
          ]); // [B, P]
          const planned = sub.op('Reshape', [sub.op('Cast', [prior], { to: DType.float }), i64([0, -1])]);
          const meaning = (t: string) => sub.op('Floor', [sub.op('Div', [t, sub.scalar(DETAIL_LEVELS)])]);
          const region = sub.op('Floor', [
            sub.op('Div', [planned, sub.scalar(DETAIL_LEVELS * PALETTE.length)]),
          ]);
          const keep = sub.op('And', [
            sub.op('And', [
              sub.op('Equal', [meaning(cachedToken), meaning(planned)]),
              sub.op('Not', [sub.op('Equal', [region, sub.scalar(Region.textPanel)])]),
            ]),
            sub.op('Greater', [first(mask, 1), sub.scalarInt(0)]),
          ]);
          const gridShape = sub.op('Concat', [dim(0), i64([1]), dim(1), dim(2)], { axis: 0 });
          const keepCells = sub.op('Greater', [
            upsampleNearest(
              sub,
              sub.op('Reshape', [sub.op('Cast', [keep], { to: DType.float }), gridShape]),
              PATCH,
            ),
            sub.scalar(0.5),
          ]); // [B, 1, H/8, W/8]
          const valueShape = sub.op('Concat', [dim(0), i64([REFERENCE_HEAD_DIM]), dim(1), dim(2)], {
            axis: 0,
          });
          const cachedLatent = sub.op(
            'DepthToSpace',
            [
              sub.op('Reshape', [
                sub.op('Transpose', [sub.op('Squeeze', [first(pastValue, 2), i64([1])])], {
                  perm: [0, 2, 1],
                }),
                valueShape,
              ]),
            ],
            { blocksize: PATCH, mode: 'DCR' },
          );
          // Within a kept patch, a latent cell the reference's outline crosses (its colour
          // far from the planned one) is drawn from the plan: no trace of what the edit changed.
          const base = (x: string) => sub.op('Slice', [x, i64([0]), i64([3]), i64([1])]);
          const difference = sub.op('Sub', [base(cachedLatent), base(x0)]);
          const alike = sub.op('Less', [
            sub.op('ReduceSum', [sub.op('Mul', [difference, difference]), i64([1])], { keepdims: 1 }),
            sub.scalar(SAME_COLOUR_DISTANCE ** 2),
          ]);
          return sub.op('Where', [sub.op('And', [keepCells, alike]), cachedLatent, x0]);
        },
        (sub) => sub.op('Identity', [x0]),
      ),
  };
}
