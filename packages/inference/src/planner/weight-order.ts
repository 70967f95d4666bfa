/** Index of a float64's high 32-bit word in a Uint32Array over it (1 on little-endian machines). */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** High word of 1.0, the largest weight: smaller weights have smaller high words. */
const ONE_HIGH = 0x3ff00000;
/** The high word's low 16 bits are the top of the mantissa: 16 buckets per power of two. */
const SHIFT = 16;
/** Buckets covering every weight in [0, 1]. */
const BUCKETS = (ONE_HIGH >>> SHIFT) + 1;
/** Buckets up to this size are insertion-sorted; larger ones use the typed-array sort. */
const INSERTION_MAX = 48;

/**
 * Candidate entries (codebook index, weight in [0, 1]) added in index order, read back
 * sorted by weight descending, ties by index ascending: the exact rule's order.
 *
 * `bucket()` distributes them by the high word of the weight's bits, which grows with the
 * weight, so equal weights share a bucket and every bucket ranks wholly before the next;
 * the distribution is stable, so a bucket holds its entries by index. Buckets are sorted
 * only when a reader reaches them, so a walk that stops early (top-p over a peaked
 * distribution) sorts only the few entries it passes.
 */
export class WeightOrder {
  /** Entries added since `reset`. */
  size = 0;
  /** Their weights summed in the order added. */
  total = 0;
  private index = new Int32Array(0);
  private weight = new Float64Array(0);
  private words = new Uint32Array(0);
  /** Slots (order of adding) in weight order; sorted up to `sortedEnd`. */
  private sorted = new Int32Array(0);
  /** After `bucket()`: where each bucket starts in `sorted`; `starts[top + 1]` is `size`. */
  private readonly starts = new Int32Array(BUCKETS + 1);
  private top = -1;
  private nextBucket = 0;
  private sortedEnd = 0;

  /** Empties the set; `capacity` is the most entries that will be added. */
  reset(capacity: number): void {
    if (this.index.length < capacity) {
      this.index = new Int32Array(capacity);
      this.weight = new Float64Array(capacity);
      this.words = new Uint32Array(this.weight.buffer);
      this.sorted = new Int32Array(capacity);
    }
    this.size = 0;
    this.total = 0;
  }

  add(index: number, weight: number): void {
    const slot = this.size++;
    this.index[slot] = index;
    this.weight[slot] = weight;
    this.total += weight;
  }

  /** Distributes the entries over the buckets; call once after the last `add`. */
  bucket(): void {
    const { starts, words, sorted, size } = this;
    starts.fill(0, 0, this.top + 2);
    let top = 0;
    for (let s = 0; s < size; s++) {
      const b = (ONE_HIGH - (words[2 * s + HIGH_WORD] as number)) >>> SHIFT;
      starts[b] = (starts[b] as number) + 1;
      if (b > top) top = b;
    }
    // Counts to bucket ends, then a stable placement (last entry first) turns ends into starts.
    for (let b = 1; b <= top; b++) starts[b] = (starts[b] as number) + (starts[b - 1] as number);
    for (let s = size - 1; s >= 0; s--) {
      const b = (ONE_HIGH - (words[2 * s + HIGH_WORD] as number)) >>> SHIFT;
      const at = (starts[b] as number) - 1;
      starts[b] = at;
      sorted[at] = s;
    }
    starts[top + 1] = size;
    this.top = top;
    this.nextBucket = 0;
    this.sortedEnd = 0;
  }

  /** The weight of the j-th entry in order (`j < size`). */
  weightAt(j: number): number {
    if (j >= this.sortedEnd) this.sortThrough(j);
    return this.weight[this.sorted[j] as number] as number;
  }

  /** The codebook index of the j-th entry in order; `weightAt(j)` first. */
  indexAt(j: number): number {
    return this.index[this.sorted[j] as number] as number;
  }

  private sortThrough(j: number): void {
    const { starts, sorted, weight } = this;
    while (this.sortedEnd <= j) {
      const b = this.nextBucket++;
      const start = starts[b] as number;
      const end = starts[b + 1] as number;
      if (end - start > INSERTION_MAX) {
        sorted.subarray(start, end).sort(this.bySlot);
      } else {
        // Stable: an entry moves only past strictly lighter ones, so ties keep index order.
        for (let a = start + 1; a < end; a++) {
          const s = sorted[a] as number;
          const w = weight[s] as number;
          let at = a - 1;
          while (at >= start && (weight[sorted[at] as number] as number) < w) {
            sorted[at + 1] = sorted[at] as number;
            at--;
          }
          sorted[at + 1] = s;
        }
      }
      this.sortedEnd = end;
    }
  }

  /** Slots are numbered in index order, so comparing slots breaks ties by index. */
  private readonly bySlot = (a: number, b: number): number =>
    (this.weight[b] as number) - (this.weight[a] as number) || a - b;
}
