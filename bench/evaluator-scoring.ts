/**
 * What scoring costs next to making the image, and whether the text score tells legible
 * from garbled: for each prompt with quoted text the reference pack plans and decodes an
 * image (the baseline: decoder time per image at `--steps`), then the evaluator's decode
 * scorers (OCR of the quoted spans, the pack's colourfulness model) score it; a second
 * image is decoded from the same plan with every quoted letter moved one along the
 * alphabet as glyphs, and scored against the prompt's text. Prints medians and the ratio
 * of scoring to decoding, and the mean text_legibility of each kind.
 *
 *   node --import tsx bench/evaluator-scoring.ts [--steps 20] [--size 512] [--prompts 24]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OcrEngine } from '../apps/evaluator-worker/src/scorers/ocr-engine.ts';
import { scoreTextLegibility } from '../apps/evaluator-worker/src/scorers/text-legibility.ts';
import { Decoder } from '../packages/inference/src/decoder/decoder.ts';
import { extractQuotedSpans } from '../packages/inference/src/decoder/glyphs.ts';
import { loadModelPack } from '../packages/inference/src/model-pack.ts';
import { Planner } from '../packages/inference/src/planner/planner.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';
import { ImageScorers } from '../packages/inference/src/scoring/image-scorers.ts';
import { ASCII_TEXT_PROMPTS } from '../packages/inference/src/testing/fidelity-prompts.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    size: { type: 'string', default: '512' },
    prompts: { type: 'string', default: String(ASCII_TEXT_PROMPTS.length) },
  },
});
const steps = Number(values.steps);
const size = Number(values.size);
const prompts = ASCII_TEXT_PROMPTS.slice(0, Number(values.prompts));

/** Every letter one along the alphabet (Z to A), inside the quotes only. */
function garble(prompt: string): string {
  let out = prompt;
  for (const span of extractQuotedSpans(prompt)) {
    const shifted = span.replace(/[A-Za-z]/g, (c) => {
      const base = c <= 'Z' ? 65 : 97;
      return String.fromCharCode(((c.charCodeAt(0) - base + 1) % 26) + base);
    });
    out = out.replace(span, shifted);
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const dir = await mkdtemp(join(tmpdir(), 'glm-bench-pack-'));
try {
  await buildReferencePack(dir);
  const pack = await loadModelPack(dir);
  const [planner, decoder, scorers, ocr] = await Promise.all([
    Planner.load(pack),
    Decoder.load(pack),
    ImageScorers.load(pack),
    OcrEngine.start(),
  ]);
  const decodeMs: number[] = [];
  const scoreMs: number[] = [];
  const legible: number[] = [];
  const garbled: number[] = [];
  for (const [seed, prompt] of prompts.entries()) {
    const plan = await planner.plan({ prompt, width: size, height: size, seed });
    const spans = extractQuotedSpans(prompt);
    for (const [glyphPrompt, scores] of [
      [prompt, legible],
      [garble(prompt), garbled],
    ] as const) {
      let started = performance.now();
      const { image } = await decoder.render({
        prompt: glyphPrompt,
        main: plan.main,
        width: size,
        height: size,
        seed,
        steps,
      });
      decodeMs.push(performance.now() - started);
      started = performance.now();
      const text = await scoreTextLegibility(ocr, image, spans);
      await scorers?.score('decode', image, prompt);
      scoreMs.push(performance.now() - started);
      scores.push(text!.legibility);
    }
  }
  await Promise.allSettled([planner.close(), decoder.close(), scorers?.close(), ocr.close()]);

  console.log(`${prompts.length} prompts x 2 images at ${size}x${size}, decoder ${steps} steps\n`);
  console.log('| per image                                   | median ms |');
  console.log('| ------------------------------------------- | --------- |');
  console.log(`| decode (baseline)                           | ${median(decodeMs).toFixed(0).padStart(9)} |`);
  console.log(`| score: OCR of the quoted text + scorer model | ${median(scoreMs).toFixed(0).padStart(9)} |`);
  console.log(
    `| **ratio (score / decode)**                  | ${(median(scoreMs) / median(decodeMs)).toFixed(2).padStart(9)} |`,
  );
  console.log(
    `\nmean text_legibility: legible ${mean(legible).toFixed(3)}, garbled glyphs ${mean(garbled).toFixed(3)}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
