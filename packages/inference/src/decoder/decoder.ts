import type { ExecutionOptions } from '../execution/execution-options.ts';
import { ModelThread } from '../execution/model-thread.ts';
import type { ModelPack } from '../model-pack.ts';
import { referencePixels } from '../reference-images/reference-image.ts';
import type { DecoderJobs, DecoderStepProgress } from './decoder-jobs.ts';
import { CONTENT_TYPES, encodeRgb } from './image-encoding.ts';
import type { RenderOptions, RenderRequest, RenderResult } from './render-request.ts';
import { resolveRenderRequest } from './render-request-validation.ts';

export type {
  ImageFormat,
  ReferenceImageInput,
  RenderOptions,
  RenderRequest,
  RenderResult,
  TokenGrid,
} from './render-request.ts';

const DECODER_JOBS = new URL('./decoder-jobs.ts', import.meta.url);

/**
 * Stage two: renders an image from the planner's main grid and the prompt's quoted
 * text. The models run in a dedicated thread; image encoding (sharp) runs on libuv's
 * pool. Renders on one Decoder run one at a time, in call order.
 */
export class Decoder {
  private constructor(
    private readonly pack: ModelPack,
    private readonly thread: ModelThread<DecoderJobs>,
  ) {}

  /** Opens the denoiser and VAE of `pack` in a new model thread. */
  static async load(pack: ModelPack, options?: ExecutionOptions): Promise<Decoder> {
    // Every step is reported: a step takes far longer than a message costs.
    const thread = await ModelThread.start<DecoderJobs>(DECODER_JOBS, pack, options, {
      progressIntervalMs: 0,
    });
    return new Decoder(pack, thread);
  }

  /**
   * Renders one image, conditioned on `references` when given (image-to-image). Rejects
   * with InvalidInputError before any model runs when the request does not fit the pack
   * (UnsupportedFeatureError for references to a pack that reads none), with CanceledError when `signal` aborts
   * (decoding stops at the next step boundary; no step is reported after the abort).
   */
  async render(req: RenderRequest, opts: RenderOptions = {}): Promise<RenderResult> {
    const started = performance.now();
    const { signal, onStep } = opts;
    const request = resolveRenderRequest(this.pack.manifest, req);
    if (req.references?.length) {
      // Decoded here, on libuv's pool: the model thread gets pixels at the output size.
      request.references = await Promise.all(
        req.references.map(async ({ image, tokens }) => ({
          tokens,
          pixels: await referencePixels(image, request.width, request.height, 'signed'),
        })),
      );
    }
    const decoded = await this.thread.run<'render', DecoderStepProgress>('render', request, {
      signal,
      onProgress: ({ step, total }) => {
        if (!signal?.aborted) onStep?.(step, total);
      },
    });
    const image = await encodeRgb(decoded.rgb, decoded.width, decoded.height, request.format);
    return {
      image,
      width: decoded.width,
      height: decoded.height,
      format: request.format,
      contentType: CONTENT_TYPES[request.format],
      steps: decoded.steps,
      durationMs: performance.now() - started,
    };
  }

  /** Waits for the running render, releases the models and ends the thread. Safe to call twice. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
