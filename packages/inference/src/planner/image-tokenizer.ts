import type { ExecutionOptions } from '../execution/execution-options.ts';
import { ModelThread } from '../execution/model-thread.ts';
import type { ModelPack } from '../model-pack.ts';
import { referencePixels } from '../reference-images/reference-image.ts';
import { mainGridSize, validateImageSize } from '../sizes.ts';
import type { ImageTokenizerJobs } from './image-tokenizer-jobs.ts';
import type { TokenGrid } from './token-grid.ts';

const IMAGE_TOKENIZER_JOBS = new URL('./image-tokenizer-jobs.ts', import.meta.url);

/**
 * Turns a reference image into semantic tokens for the planner's prompt, with the
 * pack's optional image tokenizer: the image is scaled to cover the generation's size
 * (cropped from the centre) and read as one token per main-grid cell, so the reference's
 * cells line up with the cells the planner generates.
 */
export class ImageTokenizer {
  private constructor(
    private readonly pack: ModelPack,
    private readonly thread: ModelThread<ImageTokenizerJobs>,
  ) {}

  /** Null when the pack has no image tokenizer (it takes no reference images). */
  static async load(pack: ModelPack, options?: ExecutionOptions): Promise<ImageTokenizer | null> {
    if (!pack.files.imageTokenizer) return null;
    const thread = await ModelThread.start<ImageTokenizerJobs>(IMAGE_TOKENIZER_JOBS, pack, options);
    return new ImageTokenizer(pack, thread);
  }

  /** The tokens of `image` (PNG, JPEG or WebP bytes) for a `width` x `height` generation. */
  async tokenize(image: Uint8Array, width: number, height: number): Promise<TokenGrid> {
    validateImageSize(this.pack.manifest, width, height);
    const { rows, cols } = mainGridSize(this.pack.manifest, width, height);
    const pixels = await referencePixels(image, width, height, 'unit');
    return this.thread.run('tokenize', { pixels, width, height, rows, cols });
  }

  /** Waits for the running job and ends the thread. Safe to call twice. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
