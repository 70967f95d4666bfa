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
import { markdownTable, publish } from './support/report.ts';
import { median, ratio, round } from './support/stats.ts';

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
  const rows: Array<Array<string | number>> = [];
  const figures: Record<string, number> = {};
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
    for (const [stage, key, [plain, edited]] of [
      ['plan (tokenize + plan)', 'plan', plans],
      [`decode (${steps} steps)`, 'decode', decodes],
    ] as const) {
      rows.push([`${size}x${size}`, stage, plain.toFixed(2), edited.toFixed(2), `${ratio(edited, plain)}x`]);
      figures[`${key}_text_to_image_s_${size}`] = round(plain);
      figures[`${key}_image_to_image_s_${size}`] = round(edited);
      figures[`${key}_ratio_${size}`] = ratio(edited, plain);
    }
  }
  await publish({
    benchmark: 'Image-to-image against text-to-image',
    command: `node --import tsx bench/image-to-image.ts --steps ${steps} --runs ${runs}`,
    parameters: { pack: pack.manifest.name, steps, runs, reference_images: 1 },
    figures,
    table: markdownTable(['size', 'stage', 'text-to-image s (baseline)', 'image-to-image s', 'ratio'], rows),
    notes: [`medians of ${runs} runs of each, run alternately after a warm-up, CPU`],
  });
} finally {
  await Promise.allSettled([tokenizer.close(), planner.close(), decoder.close()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
