import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsupportedFeatureError } from '@glm-image/shared/errors';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder } from '../decoder/decoder.ts';
import { PreviewRenderer } from '../decoder/preview-renderer.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { supportsReferenceImages } from '../model-pack-manifest.ts';
import { ImageTokenizer } from '../planner/image-tokenizer.ts';
import { Planner } from '../planner/planner.ts';
import { buildPack, REFERENCE_PACK } from './build-pack.ts';
import { fixedCostPack } from './fixed-cost-pack.ts';
import { PACK_NAMES, packSpec } from './packs.ts';
import { zeroCostPack } from './zero-cost-pack.ts';

/**
 * The zero-cost and fixed-cost packs, built by the reference pack's builder: they pass
 * the same validation, plan and render through the same runtimes, and give images of
 * the size asked for. They build none of the reference-image models, so they are
 * text-to-image packs that refuse reference images.
 */

const FIXED_COST_WORK = 3;
let root: string;
const packs: Record<'zero-cost' | 'fixed-cost', ModelPack> = {} as never;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'glm-serving-packs-'));
  await buildPack(join(root, 'zero-cost'), zeroCostPack());
  await buildPack(join(root, 'fixed-cost'), fixedCostPack(FIXED_COST_WORK));
  packs['zero-cost'] = await loadModelPack(join(root, 'zero-cost'));
  packs['fixed-cost'] = await loadModelPack(join(root, 'fixed-cost'));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe.each(['zero-cost', 'fixed-cost'] as const)('the %s pack', (name) => {
  let planner: Planner;
  let decoder: Decoder;
  let preview: PreviewRenderer | null;

  beforeAll(async () => {
    planner = await Planner.load(packs[name]);
    decoder = await Decoder.load(packs[name]);
    preview = await PreviewRenderer.load(packs[name]);
  });

  afterAll(async () => {
    await Promise.all([planner?.close(), decoder?.close(), preview?.close()]);
  });

  it('plans, previews and renders a 64x96 image in the format asked for', async () => {
    const plan = await planner.plan({ prompt: 'a sign that says "OK"', width: 64, height: 96, seed: 4 });
    expect([plan.main.rows, plan.main.cols]).toEqual([3, 2]);
    expect([plan.preview.rows, plan.preview.cols]).toEqual([2, 1]);

    const shown = await preview?.render(plan.preview);
    expect(shown && (await sharp(shown.image).metadata())).toMatchObject({
      format: 'png',
      width: 8,
      height: 16,
    });

    const steps: number[] = [];
    const rendered = await decoder.render(
      {
        prompt: 'a sign that says "OK"',
        main: plan.main,
        width: 64,
        height: 96,
        seed: 4,
        steps: 3,
        format: 'webp',
      },
      { onStep: (step) => steps.push(step) },
    );
    expect(steps).toEqual([1, 2, 3]);
    expect(await sharp(rendered.image).metadata()).toMatchObject({ format: 'webp', width: 64, height: 96 });
  });

  it('gives the same bytes for the same seed and other bytes for another seed', async () => {
    const main = { rows: 2, cols: 2, tokens: [0, 5, 10, 15] };
    const render = async (seed: number) =>
      (await decoder.render({ prompt: 'x', main, width: 64, height: 64, seed, steps: 2 })).image;
    const first = await render(1);
    expect((await render(1)).equals(first)).toBe(true);
    expect((await render(2)).equals(first)).toBe(false);
  });
  it('takes no reference images: names none of their models and refuses them by name', async () => {
    const pack = packs[name];
    expect(supportsReferenceImages(pack.manifest)).toBe(false);
    expect([pack.files.imageTokenizer, pack.files.vaeEncoder]).toEqual([undefined, undefined]);
    expect(await ImageTokenizer.load(pack)).toBeNull();
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#2040d0' } })
      .png()
      .toBuffer();
    const main = { rows: 2, cols: 2, tokens: [0, 5, 10, 15] };
    const refused = await decoder
      .render({
        prompt: 'x',
        main,
        width: 64,
        height: 64,
        seed: 1,
        steps: 1,
        references: [{ image, tokens: main }],
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnsupportedFeatureError);
    expect((refused as Error).message).toContain(pack.manifest.name);
  });
});

describe('buildPack', () => {
  it('refuses a spec whose manifest names a model it has no builder for', async () => {
    const dir = join(root, 'incomplete');
    await expect(buildPack(dir, { ...REFERENCE_PACK, imageTokenizer: undefined })).rejects.toThrow(
      'names an image tokenizer but builds none',
    );
    await expect(buildPack(dir, { ...REFERENCE_PACK, vaeEncoder: undefined })).rejects.toThrow(
      'names a VAE encoder but builds none',
    );
  });
});

describe('the fixed-cost denoiser', () => {
  it('holds exactly the work asked for: one 128x128 matrix product per work unit', async () => {
    const model = onnxProto.onnx.ModelProto.decode(await readFile(packs['fixed-cost'].files.denoiser));
    const products = (model.graph?.node ?? []).filter((node) => node.opType === 'MatMul');
    expect(products).toHaveLength(FIXED_COST_WORK);
    const zeroCost = onnxProto.onnx.ModelProto.decode(await readFile(packs['zero-cost'].files.denoiser));
    expect((zeroCost.graph?.node ?? []).filter((node) => node.opType === 'MatMul')).toHaveLength(0);
  });

  it('refuses a work count that is not a positive whole number', () => {
    expect(() => fixedCostPack(0)).toThrow(RangeError);
    expect(() => fixedCostPack(1.5)).toThrow(RangeError);
  });
});

it('names every pack the CLI builds', () => {
  expect(PACK_NAMES.map((name) => packSpec(name).manifest.name)).toEqual([
    'glm-image-reference',
    'glm-image-zero-cost',
    'glm-image-fixed-cost',
  ]);
});
