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
 * pool. Renders on one Decoder run one at a time, in call order: a caller that asks for
 * the next render before the current one ends keeps the models busy while it encodes
 * and uploads, as the decoder worker does.
 */
export class Decoder {
  /** Settles once every render asked for so far has entered the model thread's queue. */
  private entering: Promise<void> = Promise.resolve();
  /**
   * Reference images decoded at an output size, by their bytes: the renders of one job
   * share the same reference images, which then decode (and sit in memory) once.
   */
  private readonly decodedReferences = new WeakMap<Uint8Array, Map<string, Promise<Float32Array>>>();

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
   * (UnsupportedFeatureError for references to a pack that reads none), with
   * CanceledError when `signal` aborts (decoding stops at the next step boundary, a
   * render still queued behind another stops at once; no step is reported after the abort).
   */
  async render(req: RenderRequest, opts: RenderOptions = {}): Promise<RenderResult> {
    let started = performance.now();
    const { signal, onStart, onStep } = opts;
    const request = resolveRenderRequest(this.pack.manifest, req);
    const references = req.references?.length
      ? Promise.all(
          req.references.map(async ({ image, tokens }) => ({
            tokens,
            pixels: await this.referencePixels(image, request.width, request.height),
          })),
        )
      : undefined;
    // A bad reference fails this render when its turn comes, not the process before then.
    references?.catch(() => undefined);
    // Renders enter the model thread in call order even while an earlier one still waits
    // for its reference images to decode, so a caller that asks for several at once gets
    // them back in that order (the decoder worker uploads them in that order).
    const entered = this.entering.then(async () => {
      if (references) request.references = await references;
      const run = this.thread.run<'render', DecoderStepProgress>('render', request, {
        signal,
        onStart: () => {
          started = performance.now();
          onStart?.();
        },
        onProgress: ({ step, total, denoiserMs }) => {
          if (!signal?.aborted) onStep?.(step, total, denoiserMs);
        },
      });
      return { run };
    });
    this.entering = entered.then(
      () => undefined,
      () => undefined,
    );
    const decoded = await (await entered).run;
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

  /** Planar RGB in [-1, 1] of `image` covering width x height, decoded on libuv's pool. */
  private referencePixels(image: Uint8Array, width: number, height: number): Promise<Float32Array> {
    let sizes = this.decodedReferences.get(image);
    if (!sizes) {
      sizes = new Map();
      this.decodedReferences.set(image, sizes);
    }
    const size = `${width}x${height}`;
    let pixels = sizes.get(size);
    if (!pixels) {
      pixels = referencePixels(image, width, height, 'signed');
      sizes.set(size, pixels);
    }
    return pixels;
  }

  /** Waits for the running render, releases the models and ends the thread. Safe to call twice. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
