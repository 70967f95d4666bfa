/**
 * What image-to-image costs against text-to-image, side by side in one run on the same
 * pack: the planner with one reference image in its prompt (tokenized first) against the
 * same prompt without; the decoder with the reference (its VAE-encoding and cache-filling
 * pass, then every step reading the cache) against the same plan without.
 *
 *   node --import tsx bench/image-to-image.ts [--pack model-packs/reference] [--steps 10] [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Decoder } from '../packages/inference/src/decoder/decoder.ts';
import { loadModelPack, type ModelPack } from '../packages/inference/src/model-pack.ts';
import { ImageTokenizer } from '../packages/inference/src/planner/image-tokenizer.ts';
import { Planner } from '../packages/inference/src/planner/planner.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';

const { values } = parseArgs({
  options: {
    pack: { type: 'string' },
    steps: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
  },
});
const steps = Number(values.steps);
const runs = Number(values.runs);
const PROMPT = 'make the background green';

let scratch: string | null = null;
let pack: ModelPack;
if (values.pack) {
  pack = await loadModelPack(values.pack);
} else {
  scratch = await mkdtemp(join(tmpdir(), 'glm-bench-pack-'));
  await buildReferencePack(scratch);
  pack = await loadModelPack(scratch);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function seconds(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

/** Medians of `runs` timings of each variant, run alternately so that load hits both alike. */
async function sideBySide(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  await a();
  await b(); // warm-up
  const [ta, tb]: [number[], number[]] = [[], []];
  for (let i = 0; i < runs; i += 1) {
    ta.push(await seconds(a));
    tb.push(await seconds(b));
  }
  return [median(ta), median(tb)];
}

const tokenizer = await ImageTokenizer.load(pack);
if (!tokenizer) throw new Error(`pack ${pack.manifest.name} takes no reference images`);
const planner = await Planner.load(pack);
const decoder = await Decoder.load(pack);
try {
  console.log(`image-to-image against text-to-image (${pack.manifest.name}, CPU, ${runs} runs, medians)`);
  console.log('size        stage                     text-to-image s   image-to-image s   ratio');
  for (const size of [512, 1024]) {
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">` +
      `<rect width="${size}" height="${size}" fill="rgb(30,70,220)"/>` +
      `<circle cx="${size * 0.66}" cy="${size * 0.34}" r="${size * 0.16}" fill="rgb(220,30,30)"/></svg>`;
    const image = await sharp(Buffer.from(svg)).png().toBuffer();
    const request = { prompt: PROMPT, width: size, height: size, seed: 1 };
    let tokens = await tokenizer.tokenize(image, size, size);
    const plans = await sideBySide(
      () => planner.plan(request),
      async () => {
        tokens = await tokenizer.tokenize(image, size, size);
        return planner.plan({ ...request, references: [tokens] });
      },
    );
    const { main } = await planner.plan({ ...request, references: [tokens] });
    const render = { ...request, main, steps };
    const decodes = await sideBySide(
      () => decoder.render(render),
      () => decoder.render({ ...render, references: [{ image, tokens }] }),
    );
    for (const [stage, [plain, edited]] of [
      ['plan (tokenize + plan)', plans],
      [`decode (${steps} steps)`, decodes],
    ] as const) {
      console.log(
        `${`${size}x${size}`.padEnd(12)}${stage.padEnd(26)}${plain.toFixed(2).padStart(15)}   ${edited.toFixed(2).padStart(16)}   ${(edited / plain).toFixed(2).padStart(5)}x`,
      );
    }
  }
} finally {
  await Promise.allSettled([tokenizer.close(), planner.close(), decoder.close()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
