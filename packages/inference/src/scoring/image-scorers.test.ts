import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelPackError } from '../errors.ts';
import { loadModelPack } from '../model-pack.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { DType, GraphBuilder } from '../reference-pack/graph-builder.ts';
import { ImageScorers } from './image-scorers.ts';

/**
 * The pack's scorer models through the model thread: the reference pack's colourfulness
 * model, and a prompt-reading model built here to show a CLIP-style scorer's text inputs
 * arrive as the contract says.
 */

let root: string;
let reference: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'scorers-test-'));
  reference = join(root, 'reference');
  await buildReferencePack(reference);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const solid = (r: number, g: number, b: number) =>
  sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

/** Half red, half blue: about as colourful as an image gets. */
const halves = () =>
  sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 230, g: 20, b: 20 } } })
    .composite([
      {
        input: { create: { width: 32, height: 64, channels: 3, background: { r: 20, g: 40, b: 230 } } },
        left: 32,
        top: 0,
      },
    ])
    .png()
    .toBuffer();

describe('ImageScorers', () => {
  it("runs the reference pack's colourfulness scorer on decoded images", async () => {
    const scorers = await ImageScorers.load(await loadModelPack(reference));
    try {
      expect(scorers?.names('decode')).toEqual(['colourfulness']);
      expect(scorers?.names('plan')).toEqual([]);
      const grey = await scorers!.score('decode', await solid(128, 128, 128), 'a grey wall');
      const vivid = await scorers!.score('decode', await halves(), 'red and blue');
      expect(grey.colourfulness).toBeCloseTo(0, 5);
      expect(vivid.colourfulness).toBeGreaterThan(0.9);
      expect(vivid.colourfulness).toBeLessThanOrEqual(1);
    } finally {
      await scorers?.close();
    }
  });

  it('feeds the prompt to a scorer that names a tokenizer', async () => {
    const dir = join(root, 'with-text-scorer');
    await cp(reference, dir, { recursive: true });
    // score = tokens the attention mask marks / maxTextLength: the prompt arrived, padded.
    const g = new GraphBuilder('prompt_length');
    g.input('pixel_values', DType.float, [1, 3, 8, 8]);
    g.input('input_ids', DType.int64, [1, 16]);
    const mask = g.input('attention_mask', DType.int64, [1, 16]);
    const used = g.op('ReduceSum', [g.op('Cast', [mask], { to: DType.float }), g.constInt64([1], [1])], {
      keepdims: 0,
    });
    g.output('score', g.op('Div', [used, g.scalar(16)]), DType.float, [1]);
    await writeFile(join(dir, 'prompt-length.onnx'), g.toBytes(17));
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelPackManifest;
    manifest.scorers = [
      {
        type: 'onnx',
        name: 'prompt_length',
        stage: 'plan',
        model: 'prompt-length.onnx',
        imageSize: 8,
        tokenizer: 'tokenizer.json',
        maxTextLength: 16,
      },
    ];
    await writeFile(join(dir, 'model.json'), JSON.stringify(manifest));

    const scorers = await ImageScorers.load(await loadModelPack(dir));
    try {
      const short = await scorers!.score('plan', await solid(0, 0, 0), 'a red circle');
      const long = await scorers!.score('plan', await solid(0, 0, 0), 'a red circle on a blue background');
      expect(short.prompt_length).toBeGreaterThan(0);
      expect(long.prompt_length).toBeGreaterThan(short.prompt_length!);
    } finally {
      await scorers?.close();
    }
  });

  it('refuses a scorer model that does not take pixel_values, naming the file', async () => {
    const dir = join(root, 'bad-scorer');
    await cp(reference, dir, { recursive: true });
    const g = new GraphBuilder('bad');
    const x = g.input('image', DType.float, [1, 3, 8, 8]);
    g.output('score', g.op('ReduceMean', [x], { keepdims: 0 }), DType.float, []);
    await writeFile(join(dir, 'colourfulness.onnx'), g.toBytes(17));
    const error = await loadModelPack(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelPackError);
    expect((error as ModelPackError).message).toMatch(/colourfulness\.onnx.*pixel_values/);
  });
});
