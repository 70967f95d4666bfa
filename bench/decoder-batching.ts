/**
 * Should the decoder batch? Rendering k images in one denoiser call (the n images of
 * one generation, or jobs of the same size and steps) instead of one call per image
 * can only save what the denoiser saves per image at the larger batch. This measures
 * that ceiling directly: the denoiser called with onnxruntime on the decoder's own
 * inputs, guidance on (each image is 2 batch entries), at k = 1, 2 and 4 images per
 * call, on one thread, in CPU time (median of `--calls` interleaved rounds after one
 * warm-up, so that other load on the machine does not bend the comparison), on each pack:
 *
 * - reference pack, 512x512 and 1024x1024: a real convolutional graph on the CPU;
 * - fixed-cost pack, 64x64: the stand-in for a saturated accelerator;
 * - zero-cost pack, 64x64: what a call costs when the model costs nothing (the fixed
 *   per-call cost that batching would amortise).
 *
 * The baseline is k = 1 (what the decoder does), run side by side in the same process.
 *
 *   node --import tsx bench/decoder-batching.ts [--calls 10] [--work 1024]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { gaussianNoise } from '../packages/inference/src/decoder/gaussian-noise.ts';
import { encodeGlyphs } from '../packages/inference/src/decoder/glyphs.ts';
import { upsampleTokenGrid } from '../packages/inference/src/decoder/prior-tokens.ts';
import { referenceCacheFeeds } from '../packages/inference/src/decoder/reference-cache.ts';
import { sessionOptionsFor } from '../packages/inference/src/execution/execution-options.ts';
import { loadModelPack, type ModelPack } from '../packages/inference/src/model-pack.ts';
import {
  buildPack,
  type PackSpec,
  REFERENCE_PACK,
} from '../packages/inference/src/reference-pack/build-pack.ts';
import { fixedCostPack } from '../packages/inference/src/reference-pack/fixed-cost-pack.ts';
import { zeroCostPack } from '../packages/inference/src/reference-pack/zero-cost-pack.ts';
import { markdownTable, publish } from './support/report.ts';
import { median, round } from './support/stats.ts';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '10' }, work: { type: 'string', default: '1024' } },
});
const calls = Number(values.calls);
const work = Number(values.work);
const IMAGES_PER_CALL = [1, 2, 4];
const PROMPT = 'a sign saying "BENCH 42"';
/** Batching pays when it saves at least this share of the denoiser's time per image. */
const WORTH_IT = 0.1;

interface Case {
  label: string;
  spec: PackSpec;
  size: number;
}

const cases: Case[] = [
  { label: 'reference 512x512', spec: REFERENCE_PACK, size: 512 },
  { label: 'reference 1024x1024', spec: REFERENCE_PACK, size: 1024 },
  { label: `fixed-cost 64x64 (work ${work})`, spec: fixedCostPack(work), size: 64 },
  { label: 'zero-cost 64x64', spec: zeroCostPack(), size: 64 },
];

/** Feeds of one denoiser call for `images` images, each a conditional and an unconditional entry. */
function feeds(
  session: InferenceSession,
  pack: ModelPack,
  size: number,
  images: number,
): InferenceSession.FeedsType {
  const { decoder, planner } = pack.manifest;
  const lh = size / decoder.vaeScaleFactor;
  const ph = size / decoder.priorPatch;
  const side = size / planner.grid.mainPatch;
  const perEntry = decoder.latentChannels * lh * lh;
  const batch = 2 * images;
  const main = { rows: side, cols: side, tokens: Array.from({ length: side * side }, (_, i) => i % 7) };
  const prior = Array.from(upsampleTokenGrid(main, ph, ph));
  const glyphs = encodeGlyphs(PROMPT, decoder.glyphs).ids;
  const sample = new Float32Array(batch * perEntry);
  for (let b = 0; b < batch; b += 1) sample.set(gaussianNoise(b, perEntry), b * perEntry);
  const repeat = (entry: number[], times: number): number[] =>
    Array.from({ length: times }, () => entry).flat();
  return {
    sample: new Tensor('float32', sample, [batch, decoder.latentChannels, lh, lh]),
    timestep: new Tensor('float32', new Float32Array(batch).fill(500), [batch]),
    prior_token_id: new Tensor('int64', BigInt64Array.from(repeat(prior, batch), BigInt), [batch, ph, ph]),
    prior_token_drop: new Tensor('bool', Uint8Array.from(repeat([0, 1], images)), [batch]),
    glyph_ids: new Tensor(
      'int64',
      BigInt64Array.from(repeat([...glyphs, ...glyphs.map(() => decoder.glyphs.padId)], images), BigInt),
      [batch, glyphs.length],
    ),
    // A pack that takes reference images has cache inputs: empty ones, as for text-to-image.
    ...referenceCacheFeeds(session, pack.manifest, null, batch),
  };
}

/**
 * CPU milliseconds per image-step at each batch size: `calls` rounds, each round one call
 * per batch size (interleaved, so a change of load on the machine hits every size
 * alike), median per size. CPU time of a single-threaded session is the work itself:
 * unlike wall time it does not stretch when other processes share the cores.
 */
async function cpuMsPerImageStep(
  session: InferenceSession,
  inputs: InferenceSession.FeedsType[],
): Promise<number[]> {
  for (const input of inputs) await session.run(input);
  const times: number[][] = inputs.map(() => []);
  for (let round = 0; round < calls; round += 1) {
    for (const [i, input] of inputs.entries()) {
      const before = process.cpuUsage();
      await session.run(input);
      const used = process.cpuUsage(before);
      times[i]!.push((used.user + used.system) / 1000);
    }
  }
  return times.map((t, i) => median(t) / (IMAGES_PER_CALL[i] as number));
}

const root = await mkdtemp(join(tmpdir(), 'glm-bench-batching-'));
try {
  const rows: Array<Array<string | number>> = [];
  const figures: Record<string, number | string> = {};
  let bestSaving = Number.NEGATIVE_INFINITY;
  for (const [index, { label, spec, size }] of cases.entries()) {
    const dir = join(root, String(index));
    await buildPack(dir, spec);
    const pack = await loadModelPack(dir);
    // One thread that does not spin: its CPU time is the model's work and nothing else.
    const session = await InferenceSession.create(pack.files.denoiser, {
      ...sessionOptionsFor({ executionProvider: 'cpu', intraOpThreads: 1, interOpThreads: 1 }),
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    try {
      const perImage = await cpuMsPerImageStep(
        session,
        IMAGES_PER_CALL.map((images) => feeds(session, pack, size, images)),
      );
      const base = perImage[0] as number;
      const saving = 1 - (perImage.at(-1) as number) / base;
      // The zero-cost pack shows the fixed cost of a call, not a model's: it does not decide.
      if (spec.manifest.name !== 'glm-image-zero-cost') bestSaving = Math.max(bestSaving, saving);
      rows.push([
        label,
        ...perImage.map((ms, i) => (i === 0 ? round(ms, 3) : `${round(ms, 3)} (${round(ms / base, 2)}x)`)),
        `${round(saving * 100, 1)}%`,
      ]);
      const key = label
        .replace(/[^a-z0-9]+/gi, '_')
        .replace(/^_|_$/g, '')
        .toLowerCase();
      IMAGES_PER_CALL.forEach((images, i) => {
        figures[`${key}_cpu_ms_per_image_step_k${images}`] = round(perImage[i] as number, 4);
      });
      figures[`${key}_saving_k4`] = round(saving, 4);
    } finally {
      await session.release();
    }
  }
  const decision =
    bestSaving < WORTH_IT
      ? `no batching: at most ${round(bestSaving * 100, 1)}% of the denoiser's work per image is saved at 4 images per call (below ${WORTH_IT * 100}%), while batching delays every image to the slowest of its batch`
      : `batching saves up to ${round(bestSaving * 100, 1)}% of the denoiser's work per image at 4 images per call`;
  figures.best_saving_k4 = round(bestSaving, 4);
  figures.decision = decision;
  await publish({
    benchmark: 'Decoder batching: denoiser CPU ms per image-step at 1, 2 and 4 images per call',
    command: `node --import tsx bench/decoder-batching.ts --calls ${calls} --work ${work}`,
    parameters: { calls, guidance: 'on (2 batch entries per image)', images_per_call: IMAGES_PER_CALL, work },
    figures,
    table: markdownTable(
      ['pack', 'k=1 (baseline), CPU ms per image-step', 'k=2', 'k=4', 'saved per image at k=4'],
      rows,
    ),
    notes: [`decision: ${decision}`],
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
