import { InvalidInputError } from '../errors.ts';
import type { ExecutionOptions } from '../execution/execution-options.ts';
import { ModelThread } from '../execution/model-thread.ts';
import type { ModelPack } from '../model-pack.ts';
import { encodeRgb } from './image-encoding.ts';
import type { PreviewJobs } from './preview-jobs.ts';
import type { TokenGrid } from './render-request.ts';

const PREVIEW_JOBS = new URL('./preview-jobs.ts', import.meta.url);

/** Largest preview grid side accepted: previews are about previewSide^2 tokens. */
const MAX_PREVIEW_SIDE = 256;

/**
 * Turns the planner's preview grid into a small PNG (cellPixels per token) long before
 * the decoder finishes, using the pack's optional preview model on the CPU.
 */
export class PreviewRenderer {
  private constructor(
    private readonly pack: ModelPack,
    private readonly thread: ModelThread<PreviewJobs>,
  ) {}

  /** Null when the pack has no preview model. The preview always runs on the CPU; `options` is accepted for symmetry. */
  static async load(pack: ModelPack, options?: ExecutionOptions): Promise<PreviewRenderer | null> {
    if (!pack.manifest.preview || !pack.files.preview) return null;
    const thread = await ModelThread.start<PreviewJobs>(PREVIEW_JOBS, pack, options);
    return new PreviewRenderer(pack, thread);
  }

  async render(preview: TokenGrid): Promise<{ image: Buffer; width: number; height: number }> {
    this.checkGrid(preview);
    const { rgb, width, height } = await this.thread.run('render', preview);
    return { image: await encodeRgb(rgb, width, height, 'png'), width, height };
  }

  close(): Promise<void> {
    return this.thread.close();
  }

  private checkGrid(grid: TokenGrid): void {
    const { codebookSize } = this.pack.manifest.planner.imageVocab;
    const sideOk = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_PREVIEW_SIDE;
    if (!sideOk(grid?.rows) || !sideOk(grid.cols)) {
      throw new InvalidInputError(
        'preview',
        `grid must be 1..${MAX_PREVIEW_SIDE} on each side, got ${grid?.rows}x${grid?.cols}`,
      );
    }
    if (!Array.isArray(grid.tokens) || grid.tokens.length !== grid.rows * grid.cols) {
      throw new InvalidInputError(
        'preview',
        `needs ${grid.rows * grid.cols} tokens, got ${grid.tokens?.length}`,
      );
    }
    const bad = grid.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codebookSize);
    if (bad >= 0)
      throw new InvalidInputError('preview', `token ${bad} is ${grid.tokens[bad]}, not a codebook index`);
  }
}
