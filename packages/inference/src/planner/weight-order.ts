/** Index of a float64's high 32-bit word in a Uint32Array over it (1 on little-endian machines). */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW_WORD = 1 - HIGH_WORD;
/**
 * A weight's bucket is its high word's top 16 bits (exponent and 4 mantissa bits, so 16
 * buckets per power of two), counted down from 1.0's: the heaviest bucket first.
 */
const ONE_TOP = 0x3ff0;
/** Buckets covering every weight in [0, 1]. */
const BUCKETS = ONE_TOP + 1;
/**
 * The bits below the bucket's, most significant first, 8 at a time: the word and shift
 * of each. Sorting a large bucket by them in turn orders it by weight exactly.
 */
const DIGIT_WORD = [HIGH_WORD, HIGH_WORD, LOW_WORD, LOW_WORD, LOW_WORD, LOW_WORD];
const DIGIT_SHIFT = [8, 0, 24, 16, 8, 0];
const DIGITS = DIGIT_WORD.length;
/** Ranges up to this size are insertion-sorted; larger ones are split by the next 8 bits. */
const INSERTION_MAX = 32;

/**
 * Candidate entries (codebook index, weight in [0, 1]) added in index order, read back
 * sorted by weight descending, ties by index ascending: the exact rule's order.
 *
 * A non-negative float64's bits, read as an integer, grow with its value, so the order
 * is a radix sort of the bits, heaviest first: `bucket()` distributes the entries by
 * the top 16 bits; a bucket is sorted when a reader first reaches it, by insertion when
 * small, else by the next 8 bits and so on. Every distribution is stable, so equal
 * weights keep the order they were added in, which is index order. A walk that stops
 * early (top-p over a peaked distribution) sorts only the few entries it passes.
 */
export class WeightOrder {
  /** Entries added since `reset`. */
  size = 0;
  /** Their weights summed in the order added. */
  total = 0;
  private index = new Int32Array(0);
  private weight = new Float64Array(0);
  private words = new Uint32Array(0);
  /** Slots (numbers in order of adding) in weight order; sorted up to `sortedEnd`. */
  private sorted = new Int32Array(0);
  private spare = new Int32Array(0);
  /** After `bucket()`: where each bucket starts in `sorted`; `starts[top + 1]` is `size`. */
  private readonly starts = new Int32Array(BUCKETS + 1);
  /** Per digit: the ends of its 256 sub-ranges while a range is split by it. */
  private readonly digitEnds = Array.from({ length: DIGITS }, () => new Int32Array(256));
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
      this.spare = new Int32Array(capacity);
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
      const b = ONE_TOP - ((words[2 * s + HIGH_WORD] as number) >>> 16);
      starts[b] = (starts[b] as number) + 1;
      if (b > top) top = b;
    }
    // Counts to bucket ends, then a stable placement (last entry first) turns ends into starts.
    for (let b = 1; b <= top; b++) starts[b] = (starts[b] as number) + (starts[b - 1] as number);
    for (let s = size - 1; s >= 0; s--) {
      const b = ONE_TOP - ((words[2 * s + HIGH_WORD] as number) >>> 16);
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
    while (this.sortedEnd <= j) {
      const b = this.nextBucket++;
      const end = this.starts[b + 1] as number;
      this.sortRange(this.starts[b] as number, end, 0);
      this.sortedEnd = end;
    }
  }

  /** Sorts `sorted[start..end)`, whose weights share every bit above digit `digit`. */
  private sortRange(start: number, end: number, digit: number): void {
    if (end - start <= INSERTION_MAX || digit === DIGITS) {
      this.insertionSort(start, end);
      return;
    }
    const { sorted, spare, words } = this;
    const word = DIGIT_WORD[digit] as number;
    const shift = DIGIT_SHIFT[digit] as number;
    const ends = this.digitEnds[digit]!;
    ends.fill(0);
    // Heaviest first: the digit counted down from 255.
    for (let a = start; a < end; a++) {
      const key = 255 - (((words[2 * (sorted[a] as number) + word] as number) >>> shift) & 255);
      ends[key] = (ends[key] as number) + 1;
    }
    for (let key = 0, at = start; key < 256; key++) {
      at += ends[key] as number;
      ends[key] = at;
    }
    for (let a = end - 1; a >= start; a--) {
      const s = sorted[a] as number;
      const key = 255 - (((words[2 * s + word] as number) >>> shift) & 255);
      const at = (ends[key] as number) - 1;
      ends[key] = at;
      spare[at] = s;
    }
    for (let a = start; a < end; a++) sorted[a] = spare[a] as number;
    // `ends` now holds each sub-range's start.
    for (let key = 0; key < 256; key++) {
      const from = ends[key] as number;
      const to = key < 255 ? (ends[key + 1] as number) : end;
      if (to - from > 1) this.sortRange(from, to, digit + 1);
    }
  }

  /** Stable: an entry moves only past strictly lighter ones, so ties keep index order. */
  private insertionSort(start: number, end: number): void {
    const { sorted, weight } = this;
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
}
