/**
 * The preview model's model-thread job: preview-grid tokens in, 8-bit RGB out. Cheap,
 * but still kept off the caller's event loop like every other model call.
 */
import { ModelPackError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import { planarToRgb8 } from './image-encoding.ts';
import { floatOutput, inputTensor } from './onnx-feeds.ts';
import type { TokenGrid } from './render-request.ts';

export interface PreviewPixels {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export type PreviewJobs = { render: ModelJob<TokenGrid, PreviewPixels> };

export const createModelJobs: CreateModelJobs<PreviewJobs> = async (pack) => {
  const { preview } = pack.manifest;
  if (!preview || !pack.files.preview)
    throw new ModelPackError('model.json', 'preview', 'the pack has no preview model');
  // Always on CPU: the preview exists to be cheap where no accelerator is free.
  const session = await openSession(pack.files.preview, { executionProvider: 'cpu', intraOpThreads: 1 });
  return {
    jobs: {
      render: async (grid) => {
        const width = grid.cols * preview.cellPixels;
        const height = grid.rows * preview.cellPixels;
        const outputs = await session.run({
          preview_token_id: inputTensor(session, 'preview_token_id', grid.tokens, [1, grid.rows, grid.cols]),
        });
        const pixels = floatOutput(outputs, 'image', 3 * width * height);
        return { rgb: planarToRgb8(pixels, width, height, 'unit'), width, height };
      },
    },
    close: () => session.release(),
  };
};
