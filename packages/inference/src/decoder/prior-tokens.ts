import type { InferenceSession } from 'onnxruntime-node';
import { declaredRank } from './onnx-feeds.ts';
import type { TokenGrid } from './render-request.ts';

/**
 * Upsamples a token grid by nearest neighbour to `rows` x `cols`. The planner plans one
 * token per 32x32 pixels; the decoder's latent patches cover 16x16, so each planned
 * token conditions the 2x2 patches it covers.
 */
export function upsampleTokenGrid(grid: TokenGrid, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r += 1) {
    const sourceRow = Math.floor((r * grid.rows) / rows);
    for (let c = 0; c < cols; c += 1) {
      const sourceCol = Math.floor((c * grid.cols) / cols);
      out[r * cols + c] = grid.tokens[sourceRow * grid.cols + sourceCol] as number;
    }
  }
  return out;
}

/** The prior tokens' dims as the denoiser declares them: [B, rows, cols], or flattened [B, rows*cols]. */
export function priorDims(denoiser: InferenceSession, batch: number, rows: number, cols: number): number[] {
  return declaredRank(denoiser, 'prior_token_id') === 2 ? [batch, rows * cols] : [batch, rows, cols];
}
