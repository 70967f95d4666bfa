/**
 * Decoder seconds per denoising step at 512x512 and 1024x1024, guidance on (batch 2),
 * against a bare baseline: the same denoiser called directly with onnxruntime on this
 * thread, same inputs, no scheduler, no worker thread. The difference is what the
 * decoder loop adds per step.
 *
 *   node --import tsx bench/decoder-steps.ts [--pack model-packs/reference] [--steps 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { Decoder } from '../packages/inference/src/decoder/decoder.ts';
import { gaussianNoise } from '../packages/inference/src/decoder/gaussian-noise.ts';
import { encodeGlyphs } from '../packages/inference/src/decoder/glyphs.ts';
import { upsampleTokenGrid } from '../packages/inference/src/decoder/prior-tokens.ts';
import { referenceCacheFeeds } from '../packages/inference/src/decoder/reference-cache.ts';
import { loadModelPack, type ModelPack } from '../packages/inference/src/model-pack.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';
import { encodeToken, Region } from '../packages/inference/src/reference-pack/semantic-codebook.ts';
import { markdownTable, publish } from './support/report.ts';
import { median } from './support/stats.ts';

const { values } = parseArgs({
  options: { pack: { type: 'string' }, steps: { type: 'string', default: '10' } },
});
const steps = Number(values.steps);
const SIZES = [512, 1024];
const PROMPT = 'a sign saying "BENCH 42"';

let scratch: string | null = null;
let pack: ModelPack;
if (values.pack) {
  pack = await loadModelPack(values.pack);
} else {
  scratch = await mkdtemp(join(tmpdir(), 'glm-bench-pack-'));
  await buildReferencePack(scratch);
  pack = await loadModelPack(scratch);
}

function layout(size: number): { rows: number; cols: number; tokens: number[] } {
  const side = size / pack.manifest.planner.grid.mainPatch;
  const tokens = Array.from({ length: side * side }, (_, i) =>
    encodeToken(i % side < side / 2 ? Region.background : Region.textPanel, (i * 7) % 16, i % 256),
  );
  return { rows: side, cols: side, tokens };
}

/** Seconds per bare batch-2 denoiser call on the decoder's inputs, median of `steps` calls after one warm-up. */
async function bareDenoiserSeconds(session: InferenceSession, size: number): Promise<number> {
  const { decoder } = pack.manifest;
  const lh = size / decoder.vaeScaleFactor;
  const ph = size / decoder.priorPatch;
  const n = decoder.latentChannels * lh * lh;
  const noise = gaussianNoise(1, n);
  const prior = upsampleTokenGrid(layout(size), ph, ph);
  const glyphs = encodeGlyphs(PROMPT, decoder.glyphs).ids;
  const unconditionalGlyphs = glyphs.map(() => decoder.glyphs.padId);
  const sample = new Float32Array(2 * n);
  sample.set(noise, 0);
  sample.set(noise, n);
  const feeds = {
    sample: new Tensor('float32', sample, [2, decoder.latentChannels, lh, lh]),
    timestep: new Tensor('float32', Float32Array.from([500, 500]), [2]),
    prior_token_id: new Tensor('int64', BigInt64Array.from([...prior, ...prior], BigInt), [2, ph, ph]),
    prior_token_drop: new Tensor('bool', Uint8Array.from([0, 1]), [2]),
    glyph_ids: new Tensor('int64', BigInt64Array.from([...glyphs, ...unconditionalGlyphs], BigInt), [
      2,
      glyphs.length,
    ]),
    // A pack that takes reference images has cache inputs: empty ones, as without references.
    ...referenceCacheFeeds(session, pack.manifest, null, 2),
  };
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < steps; i += 1) {
    const started = performance.now();
    await session.run(feeds);
    times.push((performance.now() - started) / 1000);
  }
  return median(times);
}

/** Seconds per decoder step (time between step reports), median, first step excluded as warm-up. */
async function decoderStepSeconds(
  decoderRuntime: Decoder,
  size: number,
): Promise<{ perStep: number; total: number }> {
  const marks: number[] = [];
  const started = performance.now();
  const result = await decoderRuntime.render(
    { prompt: PROMPT, main: layout(size), width: size, height: size, seed: 1, steps: steps + 1 },
    { onStep: () => marks.push(performance.now()) },
  );
  const gaps = marks.slice(1).map((t, i) => (t - (marks[i] as number)) / 1000);
  if (result.steps !== steps + 1) throw new Error(`rendered ${result.steps} steps, asked for ${steps + 1}`);
  return { perStep: median(gaps), total: (performance.now() - started) / 1000 };
}

// No spinning: the bare session's idle threads would otherwise steal CPU from the decoder's thread.
const session = await InferenceSession.create(pack.files.denoiser, {
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
});
const decoderRuntime = await Decoder.load(pack);
try {
  const rows: Array<Array<string | number>> = [];
  const figures: Record<string, number> = {};
  for (const size of SIZES) {
    const bare = await bareDenoiserSeconds(session, size);
    const { perStep, total } = await decoderStepSeconds(decoderRuntime, size);
    const overhead = (perStep - bare) / bare;
    rows.push([
      `${size}x${size}`,
      bare.toFixed(4),
      perStep.toFixed(4),
      `${(overhead * 100).toFixed(0)}%`,
      total.toFixed(2),
    ]);
    figures[`bare_denoiser_s_per_call_${size}`] = Number(bare.toFixed(5));
    figures[`decoder_s_per_step_${size}`] = Number(perStep.toFixed(5));
    figures[`overhead_${size}`] = Number(overhead.toFixed(3));
    figures[`whole_render_s_${size}`] = Number(total.toFixed(3));
  }
  await publish({
    benchmark: 'Decoder: seconds per denoising step',
    command: `node --import tsx bench/decoder-steps.ts --steps ${steps}`,
    parameters: {
      pack: pack.manifest.name,
      guidance_scale: pack.manifest.decoder.defaultGuidanceScale,
      steps,
    },
    figures,
    table: markdownTable(
      [
        'size',
        'bare denoiser s/call (baseline)',
        'decoder s/step',
        'overhead',
        `whole render s (${steps + 1} steps, VAE, PNG)`,
      ],
      rows,
    ),
  });
} finally {
  await decoderRuntime.close();
  await session.release();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
