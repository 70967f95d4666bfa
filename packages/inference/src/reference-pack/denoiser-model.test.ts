import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTextLine } from '../testing/image-checks.ts';
import { buildDenoiserModel } from './denoiser-model.ts';
import { buildPreviewModel } from './preview-model.ts';
import { LATENTS_MEAN, LATENTS_STD } from './reference-manifest.ts';
import { encodeToken, PALETTE, Region } from './semantic-codebook.ts';
import { buildVaeDecoderModel } from './vae-decoder-model.ts';

const colourIndex = (name: string) => PALETTE.findIndex((p) => p.name === name);

interface Scene {
  width: number;
  height: number;
  background: string;
  circle: string;
  panel: string;
  spans: string[];
}

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Seeded standard normal samples (mulberry32 + Box-Muller), so runs are reproducible. */
function gaussian(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 1) {
    out[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

/** Where the text panel lies, in pixels (whole 32-pixel main-grid cells). */
function panelBox(s: Scene) {
  const rows = s.height / 32;
  const cols = s.width / 32;
  return {
    top: Math.round(rows * 0.72) * 32,
    bottom: Math.round(rows * 0.92) * 32,
    left: Math.round(cols * 0.1) * 32,
    right: Math.round(cols * 0.9) * 32,
  };
}

/** Main-grid tokens (H/32 x W/32) as the planner would emit them, upsampled 2x nearest. */
function priorTokens(s: Scene): BigInt64Array {
  const rows = s.height / 32;
  const cols = s.width / 32;
  const box = panelBox(s);
  const radius = Math.min(rows, cols) * 0.22;
  const main: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const detail = (r * 37 + c * 91) % 256;
      const inPanel = r * 32 >= box.top && r * 32 < box.bottom && c * 32 >= box.left && c * 32 < box.right;
      const inCircle = Math.hypot(r + 0.5 - rows * 0.4, c + 0.5 - cols / 2) < radius;
      if (inPanel) main.push(encodeToken(Region.textPanel, colourIndex(s.panel), detail));
      else if (inCircle) main.push(encodeToken(Region.shape, colourIndex(s.circle), detail));
      else main.push(encodeToken(Region.background, colourIndex(s.background), detail));
    }
  }
  const prior = new BigInt64Array(rows * 2 * cols * 2);
  for (let r = 0; r < rows * 2; r += 1) {
    for (let c = 0; c < cols * 2; c += 1) prior[r * cols * 2 + c] = BigInt(main[(r >> 1) * cols + (c >> 1)]!);
  }
  return prior;
}

/** ByT5 glyph ids: UTF-8 bytes + 3, each quoted span closed by 1, padded with 0. */
function glyphIds(spans: string[], length: number): BigInt64Array {
  const ids = spans.flatMap((span) => [...new TextEncoder().encode(span)].map((b) => b + 3).concat(1));
  const out = new BigInt64Array(length);
  ids.slice(0, length).forEach((id, i) => {
    out[i] = BigInt(id);
  });
  return out;
}

/** Euler sampling with classifier-free guidance (both branches as one batch), then the VAE. */
async function render(
  denoiser: ort.InferenceSession,
  vae: ort.InferenceSession,
  s: Scene,
  seed = 7,
): Promise<Rgb> {
  const [h, w] = [s.height / 8, s.width / 8];
  const plane = 16 * h * w;
  const prior = priorTokens(s);
  const glyphs = glyphIds(s.spans, 64);
  const priorBatch = new BigInt64Array(prior.length * 2);
  priorBatch.set(prior, 0);
  priorBatch.set(prior, prior.length);
  const glyphBatch = new BigInt64Array(glyphs.length * 2);
  glyphBatch.set(glyphs, 0);
  const feeds = {
    prior_token_id: new ort.Tensor('int64', priorBatch, [2, s.height / 16, s.width / 16]),
    prior_token_drop: new ort.Tensor('bool', Uint8Array.from([0, 1]), [2]),
    glyph_ids: new ort.Tensor('int64', glyphBatch, [2, glyphs.length]),
  };

  const x = gaussian(plane, seed);
  const steps = 8;
  const sigmas = Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
  const guidance = 1.5;
  for (let i = 0; i < steps; i += 1) {
    const sigma = sigmas[i]!;
    const batch = new Float32Array(plane * 2);
    batch.set(x, 0);
    batch.set(x, plane);
    const out = await denoiser.run({
      ...feeds,
      sample: new ort.Tensor('float32', batch, [2, 16, h, w]),
      timestep: new ort.Tensor('float32', Float32Array.from([sigma * 1000, sigma * 1000]), [2]),
    });
    const v = out.velocity!.data as Float32Array;
    const dt = sigmas[i + 1]! - sigma;
    for (let j = 0; j < plane; j += 1) {
      const uncond = v[plane + j]!;
      x[j] = x[j]! + dt * (uncond + guidance * (v[j]! - uncond));
    }
  }
  for (let j = 0; j < plane; j += 1) {
    const c = Math.floor(j / (h * w));
    x[j] = x[j]! * LATENTS_STD[c]! + LATENTS_MEAN[c]!;
  }
  const decoded = await vae.run({ latent_sample: new ort.Tensor('float32', x, [1, 16, h, w]) });
  const pixels = decoded.sample!.data as Float32Array;
  expect(decoded.sample!.dims).toEqual([1, 3, s.height, s.width]);
  const area = s.width * s.height;
  const data = new Uint8Array(area * 3);
  for (let p = 0; p < area; p += 1) {
    for (let c = 0; c < 3; c += 1) data[p * 3 + c] = Math.round(((pixels[c * area + p]! + 1) / 2) * 255);
  }
  return { data, width: s.width, height: s.height };
}

const pixel = (img: Rgb, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

/** Fraction of pixels in a square whose dominant channel is `channel` by a clear margin. */
function dominance(img: Rgb, cx: number, cy: number, half: number, channel: number): number {
  let hits = 0;
  let total = 0;
  for (let y = cy - half; y < cy + half; y += 1) {
    for (let x = cx - half; x < cx + half; x += 1) {
      const px = pixel(img, x, y);
      const others = px.filter((_, i) => i !== channel);
      if (px[channel]! > Math.max(...others) + 80) hits += 1;
      total += 1;
    }
  }
  return hits / total;
}

/** Reads the text panel with the tests' OCR helper. */
async function readPanel(img: Rgb, s: Scene, inkIsLight: boolean): Promise<string> {
  const { left, top, right, bottom } = panelBox(s);
  const png = await sharp(Buffer.from(img.data), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .png()
    .toBuffer();
  return readTextLine(png, { left, top, width: right - left, height: bottom - top }, { inkIsLight });
}

describe('reference denoiser + VAE decoder', () => {
  let denoiser: ort.InferenceSession;
  let vae: ort.InferenceSession;

  beforeAll(async () => {
    denoiser = await ort.InferenceSession.create(buildDenoiserModel());
    vae = await ort.InferenceSession.create(buildVaeDecoderModel());
  });

  it('declares the denoiser contract in small opset-17 models', () => {
    const models = [buildDenoiserModel(), buildVaeDecoderModel(), buildPreviewModel()];
    for (const bytes of models) {
      expect(onnxProto.onnx.ModelProto.decode(bytes).opsetImport.map((o) => Number(o.version))).toEqual([17]);
    }
    // The Unifont tables (2 MB of glyph rows for the whole BMP) are most of it.
    expect(models.reduce((sum, m) => sum + m.byteLength, 0)).toBeLessThan(4_000_000);
    expect(denoiser.inputNames).toEqual([
      'sample',
      'timestep',
      'prior_token_id',
      'prior_token_drop',
      'glyph_ids',
    ]);
    expect(denoiser.outputNames).toEqual(['velocity']);
  });

  const scenes: Scene[] = [
    { width: 512, height: 512, background: 'blue', circle: 'red', panel: 'white', spans: ['HELLO 42'] },
    {
      width: 1024,
      height: 640,
      background: 'blue',
      circle: 'red',
      panel: 'white',
      spans: ['Hello', 'World 2048'],
    },
    {
      width: 640,
      height: 1024,
      background: 'blue',
      circle: 'red',
      panel: 'gold',
      spans: ['Sunny', 'Day 31'],
    },
  ];
  for (const scene of scenes) {
    it(`renders colours and legible text at ${scene.width}x${scene.height}`, async () => {
      const img = await render(denoiser, vae, scene);
      const cx = scene.width / 2;
      const cy = Math.round(scene.height * 0.4);
      expect(dominance(img, cx, cy, 16, 0)).toBeGreaterThan(0.95);
      for (const [x, y] of [
        [16, 16],
        [scene.width - 16, 16],
      ] as const) {
        expect(dominance(img, x, y, 8, 2)).toBeGreaterThan(0.95);
      }
      expect(await readPanel(img, scene, false)).toBe(scene.spans.join(' '));
    });
  }

  it('draws light ink on a dark panel', async () => {
    const scene: Scene = {
      width: 768,
      height: 512,
      background: 'yellow',
      circle: 'green',
      panel: 'navy',
      spans: ['Quartz 1975'],
    };
    const img = await render(denoiser, vae, scene);
    expect(await readPanel(img, scene, true)).toBe('Quartz 1975');
  });

  it('is bit-identical for the same inputs', async () => {
    const scene = scenes[0]!;
    const a = await render(denoiser, vae, scene, 11);
    const b = await render(denoiser, vae, scene, 11);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
  });

  it('ignores tokens and glyphs on the unconditional branch', async () => {
    const run = async (scene: Scene, drop: boolean) => {
      const glyphs = glyphIds(scene.spans, 32);
      const out = await denoiser.run({
        sample: new ort.Tensor('float32', gaussian(16 * 64 * 64, 3), [1, 16, 64, 64]),
        timestep: new ort.Tensor('float32', Float32Array.from([500]), [1]),
        prior_token_id: new ort.Tensor('int64', priorTokens(scene), [1, 32, 32]),
        prior_token_drop: new ort.Tensor('bool', Uint8Array.from([drop ? 1 : 0]), [1]),
        glyph_ids: new ort.Tensor('int64', glyphs, [1, glyphs.length]),
      });
      return out.velocity!.data as Float32Array;
    };
    const a: Scene = {
      width: 512,
      height: 512,
      background: 'blue',
      circle: 'red',
      panel: 'white',
      spans: ['ABC'],
    };
    const b: Scene = {
      width: 512,
      height: 512,
      background: 'green',
      circle: 'gold',
      panel: 'black',
      spans: ['xyz 9'],
    };
    const [ua, ub, ca, cb] = await Promise.all([run(a, true), run(b, true), run(a, false), run(b, false)]);
    expect(Buffer.from(ua.buffer).equals(Buffer.from(ub.buffer))).toBe(true);
    expect(Buffer.from(ca.buffer).equals(Buffer.from(cb.buffer))).toBe(false);
    // Unconditional target is the neutral grey latent: x0 = (0 - mean) / std.
    const noise = gaussian(16 * 64 * 64, 3);
    const x0 = -LATENTS_MEAN[0]! / LATENTS_STD[0]!;
    expect(ua[100]).toBeCloseTo((noise[100]! - x0) / 0.5, 4);
  });
});
