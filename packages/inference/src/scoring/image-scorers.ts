/**
 * The pack's ONNX scorer models (`scorers` in model.json), run off the event loop in a
 * model thread: an encoded image (a preview or an output) and the prompt in, one score
 * in [0, 1] per scorer of the stage out. Any model obeying the scorer contract drops in:
 * an aesthetic head, a CLIP-style prompt-alignment model, an artifact detector.
 */
import sharp from 'sharp';
import type { ExecutionOptions } from '../execution/execution-options.ts';
import { ModelThread } from '../execution/model-thread.ts';
import type { ModelPack } from '../model-pack.ts';
import type { OnnxScorerEntry } from '../model-pack-manifest.ts';
import type { ScorerJobs } from './scorer-jobs.ts';

const SCORER_JOBS = new URL('./scorer-jobs.ts', import.meta.url);

export type ScorerStage = OnnxScorerEntry['stage'];

export class ImageScorers {
  private constructor(
    private readonly entries: readonly OnnxScorerEntry[],
    private readonly thread: ModelThread<ScorerJobs>,
  ) {}

  /** Null when the pack names no ONNX scorer. */
  static async load(pack: ModelPack, options?: ExecutionOptions): Promise<ImageScorers | null> {
    const entries = (pack.manifest.scorers ?? []).filter((e): e is OnnxScorerEntry => e.type === 'onnx');
    if (entries.length === 0) return null;
    const thread = await ModelThread.start<ScorerJobs>(SCORER_JOBS, pack, options);
    return new ImageScorers(entries, thread);
  }

  /** The names of the scorers of `stage`. */
  names(stage: ScorerStage): string[] {
    return this.entries.filter((e) => e.stage === stage).map((e) => e.name);
  }

  /** Every scorer of `stage` on one encoded image: score name → value in [0, 1]. */
  async score(stage: ScorerStage, image: Buffer, prompt: string): Promise<Record<string, number>> {
    const scores: Record<string, number> = {};
    for (const entry of this.entries) {
      if (entry.stage !== stage) continue;
      const pixels = await normalisedPixels(image, entry);
      const raw = await this.thread.run('score', {
        name: entry.name,
        pixels,
        size: entry.imageSize,
        prompt,
      });
      const [lo, hi] = entry.range ?? [0, 1];
      scores[entry.name] = Math.min(1, Math.max(0, (raw - lo) / (hi - lo)));
    }
    return scores;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}

/** The image resized to the scorer's square and laid out planar, `(rgb / 255 - mean) / std`. */
async function normalisedPixels(image: Buffer, entry: OnnxScorerEntry): Promise<Float32Array> {
  const size = entry.imageSize;
  const rgb = await sharp(image).removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer();
  const mean = entry.mean ?? [0, 0, 0];
  const std = entry.std ?? [1, 1, 1];
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p += 1) {
    for (let c = 0; c < 3; c += 1) out[c * plane + p] = (rgb[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  }
  return out;
}
