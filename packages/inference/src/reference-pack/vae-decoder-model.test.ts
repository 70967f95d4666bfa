import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildVaeDecoderModel, LatentChannel } from './vae-decoder-model.ts';

describe('reference VAE decoder', () => {
  let model: ort.InferenceSession;
  beforeAll(async () => {
    model = await ort.InferenceSession.create(buildVaeDecoderModel());
  });

  it('is an opset-17 model with the decoder contract', () => {
    const proto = onnxProto.onnx.ModelProto.decode(buildVaeDecoderModel());
    expect(proto.opsetImport.map((o) => Number(o.version))).toEqual([17]);
    expect(model.inputNames).toEqual(['latent_sample']);
    expect(model.outputNames).toEqual(['sample']);
  });

  /** Cell (0,0): base (0.5, -0.5, 2.0), ink (-1,-1,-1) on the pixels `rows` say, at `scale`. */
  async function decodeCell(rows: number[], scale: number) {
    const [h, w] = [2, 3];
    const latent = new Float32Array(16 * h * w);
    const set = (channel: number, y: number, x: number, v: number) => {
      latent[(channel * h + y) * w + x] = v;
    };
    set(LatentChannel.baseRgb, 0, 0, 0.5 * scale);
    set(LatentChannel.baseRgb + 1, 0, 0, -0.5 * scale);
    set(LatentChannel.baseRgb + 2, 0, 0, 2 * scale);
    for (let c = 0; c < 3; c += 1) set(LatentChannel.inkRgb + c, 0, 0, -scale);
    rows.forEach((bits, row) => {
      set(LatentChannel.inkRows + row, 0, 0, (bits / 256) * scale);
    });
    set(LatentChannel.inkScale, 0, 0, scale);
    const out = await model.run({ latent_sample: new ort.Tensor('float32', latent, [1, 16, h, w]) });
    const sample = out.sample!;
    expect(sample.dims).toEqual([1, 3, h * 8, w * 8]);
    const data = sample.data as Float32Array;
    return (c: number, y: number, x: number) => data[(c * h * 8 + y) * w * 8 + x]!;
  }

  it('upsamples colour 8x, draws ink pixel by pixel from the row codes and clamps to [-1,1]', async () => {
    // Row 0: the leftmost pixel; row 5: pixels 1 and 7; row 7: all eight.
    const rows = [0b1000_0000, 0, 0, 0, 0, 0b0100_0001, 0, 0b1111_1111];
    const at = await decodeCell(rows, 1);
    const inked = (y: number, x: number) => (((rows[y] ?? 0) >> (7 - x)) & 1) === 1;
    for (let y = 0; y < 8; y += 1) {
      for (let x = 0; x < 8; x += 1) {
        const expected = inked(y, x) ? [-1, -1, -1] : [0.5, -0.5, 1];
        expect([at(0, y, x), at(1, y, x), at(2, y, x)], `pixel ${x},${y}`).toEqual(expected);
      }
    }
    expect(at(0, 0, 8)).toBe(0);
  });

  it('reads the same ink whatever factor guidance scaled the latent by', async () => {
    const rows = [0b1010_1010, 0b0101_0101, 0, 0b1111_0000, 0, 0, 0b0000_0001, 0];
    const plain = await decodeCell(rows, 1);
    const guided = await decodeCell(rows, 2.75);
    for (let y = 0; y < 8; y += 1) {
      for (let x = 0; x < 8; x += 1)
        expect(guided(0, y, x) === -1, `pixel ${x},${y}`).toBe(plain(0, y, x) === -1);
    }
  });

  it('draws no ink where the ink scale is zero (the unconditional target)', async () => {
    const at = await decodeCell([255, 255, 255, 255, 255, 255, 255, 255], 0);
    expect(at(0, 3, 3)).toBe(0);
  });
});
