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

  it('upsamples colour 8x, draws ink per 4x4 sub-block and clamps to [-1,1]', async () => {
    const [h, w] = [2, 3];
    const latent = new Float32Array(16 * h * w);
    const set = (channel: number, y: number, x: number, v: number) => {
      latent[(channel * h + y) * w + x] = v;
    };
    // Cell (0,0): base (0.5, -0.5, 2.0), ink (-1,-1,-1) on its lower-right sub-block only.
    set(LatentChannel.baseRgb, 0, 0, 0.5);
    set(LatentChannel.baseRgb + 1, 0, 0, -0.5);
    set(LatentChannel.baseRgb + 2, 0, 0, 2);
    set(LatentChannel.inkCoverage + 3, 0, 0, 1.5);
    for (let c = 0; c < 3; c += 1) set(LatentChannel.inkRgb + c, 0, 0, -1);
    const out = await model.run({ latent_sample: new ort.Tensor('float32', latent, [1, 16, h, w]) });
    const sample = out.sample!;
    expect(sample.dims).toEqual([1, 3, h * 8, w * 8]);
    const data = sample.data as Float32Array;
    const at = (c: number, y: number, x: number) => data[(c * h * 8 + y) * w * 8 + x]!;
    for (const [y, x] of [
      [0, 0],
      [3, 7],
      [7, 3],
    ] as const) {
      expect([at(0, y, x), at(1, y, x), at(2, y, x)]).toEqual([0.5, -0.5, 1]);
    }
    for (const [y, x] of [
      [4, 4],
      [7, 7],
    ] as const) {
      expect([at(0, y, x), at(1, y, x), at(2, y, x)]).toEqual([-1, -1, -1]);
    }
    expect(at(0, 0, 8)).toBe(0);
  });
});
