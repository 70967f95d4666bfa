/**
 * `npm run generate -- "prompt" --out image.png`: both stages in one process, no
 * servers. Builds the reference model pack first when no pack is found.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Decoder } from '../decoder/decoder.ts';
import type { ImageFormat } from '../decoder/render-request.ts';
import { loadModelPack } from '../model-pack.ts';
import { ImageTokenizer } from '../planner/image-tokenizer.ts';
import { Planner } from '../planner/planner.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';

const USAGE = `usage: npm run generate -- "prompt" [--out image.png] [--width 1024] [--height 1024]
                            [--seed N] [--steps N] [--guidance 1.5] [--pack DIR] [--cuda]
                            [--reference picture.png]...  (image-to-image: edit the picture)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: 'image.png' },
    width: { type: 'string' },
    height: { type: 'string' },
    seed: { type: 'string' },
    steps: { type: 'string' },
    guidance: { type: 'string' },
    pack: { type: 'string' },
    cuda: { type: 'boolean', default: false },
    reference: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const prompt = positionals.join(' ').trim();
if (values.help || !prompt) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const packDir = resolve(
  values.pack ?? process.env.MODEL_PACK_PATH ?? join(repoRoot, 'model-packs/reference'),
);
if (!values.pack && !existsSync(join(packDir, 'model.json'))) await buildReferencePack(packDir);
const pack = await loadModelPack(packDir);

const number = (text: string | undefined, name: string): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value)) {
    console.error(`--${name} must be an integer, got "${text}"`);
    process.exit(2);
  }
  return value;
};
const width = number(values.width, 'width') ?? pack.manifest.sizes.default.width;
const height = number(values.height, 'height') ?? pack.manifest.sizes.default.height;
const seed = number(values.seed, 'seed') ?? Math.floor(Math.random() * 2 ** 32);
const steps = number(values.steps, 'steps') ?? pack.manifest.decoder.defaultSteps;
const guidanceScale = values.guidance === undefined ? undefined : Number(values.guidance);
const ext = extname(values.out!).slice(1).toLowerCase();
const format: ImageFormat = ext === 'jpg' || ext === 'jpeg' ? 'jpeg' : ext === 'webp' ? 'webp' : 'png';
const execution = { executionProvider: values.cuda ? ('cuda' as const) : ('cpu' as const) };

const bars = new cliProgress.MultiBar(
  { hideCursor: true, clearOnComplete: false },
  cliProgress.Presets.shades_classic,
);
/** A bar with its own label; its total is set here too, which cli-progress skips when not on a TTY. */
const progressBar = (label: string, total: number, unit: string) => {
  const bar = bars.create(total, 0, {}, { format: ` ${label} |{bar}| {value}/{total} ${unit}` });
  bar.setTotal(total);
  return bar;
};
const planner = await Planner.load(pack, execution);
const decoder = await Decoder.load(pack, execution);
const tokenizer = values.reference?.length ? await ImageTokenizer.load(pack, execution) : null;
try {
  if (values.reference?.length && !tokenizer) {
    console.error(`the model pack in ${packDir} takes no reference images`);
    process.exit(2);
  }
  const references = await Promise.all(
    (values.reference ?? []).map(async (file) => {
      const image = await readFile(file);
      return { image, tokens: await tokenizer!.tokenize(image, width, height) };
    }),
  );
  const planBar = progressBar('plan  ', 1, 'tokens');
  const plan = await planner.plan(
    { prompt, width, height, seed, references: references.map((r) => r.tokens) },
    {
      onProgress: (done, total) => {
        planBar.setTotal(total);
        planBar.update(done);
      },
    },
  );
  planBar.setTotal(plan.generatedTokens);
  planBar.update(plan.generatedTokens);
  const decodeBar = progressBar('decode', steps, 'steps');
  const result = await decoder.render(
    {
      prompt,
      main: plan.main,
      width,
      height,
      seed,
      steps,
      format,
      ...(guidanceScale !== undefined ? { guidanceScale } : {}),
      ...(references.length > 0 ? { references } : {}),
    },
    { onStep: (step) => decodeBar.update(step) },
  );
  bars.stop();
  await writeFile(values.out!, result.image);
  console.log(
    `${values.out}: ${result.width}x${result.height} ${result.format}, seed ${seed}, ` +
      `plan ${(plan.durationMs / 1000).toFixed(2)} s (${plan.tokensPerSecond.toFixed(0)} tokens/s), ` +
      `decode ${(result.durationMs / 1000).toFixed(2)} s`,
  );
} finally {
  bars.stop();
  await planner.close();
  await decoder.close();
  await tokenizer?.close();
}
