import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPreviewModel } from './preview-model.ts';
import { encodeToken, PALETTE, Region } from './semantic-codebook.ts';

const colour = (name: string) => PALETTE.findIndex((p) => p.name === name);

describe('reference preview model', () => {
  let model: ort.InferenceSession;
  beforeAll(async () => {
    model = await ort.InferenceSession.create(buildPreviewModel());
  });

  it('is an opset-17 model with the preview contract', () => {
    const proto = onnxProto.onnx.ModelProto.decode(buildPreviewModel());
    expect(proto.opsetImport.map((o) => Number(o.version))).toEqual([17]);
    expect(model.inputNames).toEqual(['preview_token_id']);
    expect(model.outputNames).toEqual(['image']);
  });

  it('paints each cell its colour and text panels grey with a darker line', async () => {
    const [ph, pw] = [2, 3];
    const tokens = [
      encodeToken(Region.background, colour('red'), 128),
      encodeToken(Region.shape, colour('blue'), 0),
      encodeToken(Region.background, colour('green'), 255),
      encodeToken(Region.textPanel, colour('navy'), 50),
      encodeToken(Region.background, colour('white'), 128),
      encodeToken(Region.background, colour('black'), 128),
    ];
    const out = await model.run({
      preview_token_id: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, ph, pw]),
    });
    const image = out.image!;
    expect(image.dims).toEqual([1, 3, ph * 8, pw * 8]);
    const data = image.data as Float32Array;
    const [H, W] = [ph * 8, pw * 8];
    const rgb = (y: number, x: number) => [0, 1, 2].map((c) => Math.round(data[(c * H + y) * W + x]! * 255));
    const min = Math.min(...data);
    const max = Math.max(...data);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(rgb(2, 2)).toEqual([220, 30, 30]); // red at the middle shade level
    expect(rgb(0, 8)[2]).toBeLessThan(220); // blue, darkest shade
    expect(rgb(0, 16)[1]).toBeGreaterThan(170); // green, lightest shade
    expect(rgb(8, 0)).toEqual([217, 217, 217]); // panel grey at the cell's edge
    expect(rgb(11, 3)).toEqual([115, 115, 115]); // the text hint across the middle
  });
});
