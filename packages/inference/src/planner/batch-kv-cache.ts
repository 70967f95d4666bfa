import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from '../errors.ts';

/** The float data of a past/present tensor (float32, float16 or bfloat16 as the model exports it). */
type KvData = Float32Array | Uint16Array | Float64Array;

/** Where one row of a cache comes from: row `row` of `source`, keeping its last `length` positions. */
export interface RowSource {
  source: KvTensors;
  row: number;
  length: number;
}

/** One set of past/present tensors, `[batch, kvHeads, width, headDim]` each, by input name. */
export interface KvTensors {
  width: number;
  tensors: Record<string, Tensor>;
}

/**
 * The past key/values of a batch whose rows are at different lengths. Each row is kept
 * right-aligned (left-padded) to the longest: its own `length` positions at the end of
 * `width`, zeros before them, masked out by the attention mask. Rows leave (finished,
 * canceled) and join (just prefilled) between steps; the tensors are then rebuilt, with
 * the padding every remaining row shares trimmed, so a long plan that ended leaves no
 * columns behind. A row's values are copied as they are, never recomputed, so what the
 * model sees for a row does not depend on which rows share its batch.
 */
export class BatchKvCache {
  private past: KvTensors;
  /** Per row: how many real positions it has in the cache. */
  private lengths: number[] = [];

  constructor(
    private readonly names: readonly string[],
    private readonly kvHeads: number,
    private readonly headDim: number,
  ) {
    this.past = this.emptyPast(0);
  }

  get rows(): number {
    return this.lengths.length;
  }

  get width(): number {
    return this.past.width;
  }

  /** The real length of row `row`: the position id its next token gets. */
  lengthOf(row: number): number {
    return this.lengths[row]!;
  }

  /** The `past_key_values.*` feeds for the next step. */
  feeds(): Record<string, Tensor> {
    return this.past.tensors;
  }

  /** Empty past tensors for a prefill of `batch` rows. */
  emptyPast(batch: number): KvTensors {
    const tensors: Record<string, Tensor> = {};
    for (const name of this.names) {
      tensors[name] = new Tensor('float32', new Float32Array(0), [batch, this.kvHeads, 0, this.headDim]);
    }
    return { width: 0, tensors };
  }

  /**
   * The attention mask of a step that feeds `step` new positions per row: for each row
   * its left padding as 0, its cached positions and the new ones as 1.
   */
  stepMask(step: number): BigInt64Array {
    const total = this.past.width + step;
    const mask = new BigInt64Array(this.rows * total);
    for (let b = 0; b < this.rows; b++) {
      mask.fill(1n, b * total + (this.past.width - this.lengths[b]!), (b + 1) * total);
    }
    return mask;
  }

  /** After a decode step over every row: the `present.*` outputs become the past, each row one longer. */
  advance(outputs: InferenceSession.OnnxValueMapType): void {
    this.past = presentOf(outputs, this.names, this.rows, this.kvHeads, this.past.width + 1, this.headDim);
    for (let b = 0; b < this.lengths.length; b++) this.lengths[b]! += 1;
  }

  /** A prefill's `present.*` outputs (`batch` rows of `width` positions) as a source of rows; throws ModelError when unusable. */
  prefilled(outputs: InferenceSession.OnnxValueMapType, batch: number, width: number): KvTensors {
    return presentOf(outputs, this.names, batch, this.kvHeads, width, this.headDim);
  }

  /**
   * The new membership: the rows in `keep` (indices into the current rows, in order),
   * then `joining` rows (from `prefilled` sources, each row's real positions
   * right-aligned in its source). Copies each row once into new tensors, as wide as the
   * longest row, so padding that every remaining row shared is gone.
   */
  rebuild(keep: readonly number[], joining: readonly RowSource[] = []): void {
    const rows: RowSource[] = keep.map((row) => ({ source: this.past, row, length: this.lengths[row]! }));
    rows.push(...joining);
    this.lengths = rows.map((r) => r.length);
    if (rows.length === 0) {
      this.past = this.emptyPast(0);
      return;
    }
    const width = Math.max(...this.lengths);
    const tensors: Record<string, Tensor> = {};
    for (const name of this.names) tensors[name] = this.gather(name, rows, width);
    this.past = { width, tensors };
  }

  private gather(name: string, rows: RowSource[], width: number): Tensor {
    const { kvHeads, headDim } = this;
    const first = rows[0]!.source.tensors[name]!;
    const Data = (first.data as KvData).constructor as new (length: number) => KvData;
    const out = new Data(rows.length * kvHeads * width * headDim);
    rows.forEach(({ source, row, length }, b) => {
      const data = source.tensors[name]!.data as KvData;
      for (let h = 0; h < kvHeads; h++) {
        const from = ((row * kvHeads + h) * source.width + source.width - length) * headDim;
        const to = ((b * kvHeads + h) * width + width - length) * headDim;
        // biome-ignore lint/suspicious/noExplicitAny: source and target share one typed-array class
        out.set(data.subarray(from, from + length * headDim) as any, to);
      }
    });
    return new Tensor(first.type as 'float32', out as Float32Array, [rows.length, kvHeads, width, headDim]);
  }
}

/** The `present.*` outputs as past tensors, checked for the expected shape. */
function presentOf(
  outputs: InferenceSession.OnnxValueMapType,
  names: readonly string[],
  batch: number,
  kvHeads: number,
  width: number,
  headDim: number,
): KvTensors {
  const tensors: Record<string, Tensor> = {};
  for (const name of names) {
    const presentName = presentNameOf(name);
    const present = outputs[presentName] as Tensor | undefined;
    const dims = present?.dims;
    if (!present || dims?.[0] !== batch || dims[1] !== kvHeads || dims[2] !== width || dims[3] !== headDim) {
      throw new ModelError(
        `planner ${presentName} has shape [${dims?.join(', ')}], expected [${batch}, ${kvHeads}, ${width}, ${headDim}]`,
      );
    }
    tensors[name] = present;
  }
  return { width, tensors };
}

function presentNameOf(pastName: string): string {
  return pastName.replace('past_key_values.', 'present.');
}
