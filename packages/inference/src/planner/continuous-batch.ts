import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { CanceledError, ModelError } from '../errors.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { leftPad } from './batch.ts';
import { BatchKvCache, type KvTensors, type RowSource } from './batch-kv-cache.ts';
import { type SamplingParams, SeededRandom, sampleToken } from './sampler.ts';

/** One sequence to generate: a row of the batch from the moment it joins until it leaves. */
export interface PlanSequence {
  promptIds: number[];
  /** Codebook tokens to generate (preview then main grid: it differs per image size). */
  count: number;
  seed: number;
  sampling: SamplingParams;
  /**
   * Sequences share model calls only with sequences of the same key (the planner's: the
   * number of reference images in the prompt). Absent: the empty key.
   */
  batchKey?: string;
}

/** How a group of sequences (one caller's request) is watched while it decodes. */
export interface GroupHooks {
  /** Checked between steps; true drops the group's sequences and rejects it with CanceledError. */
  isCanceled(): boolean;
  /** After each step that gave the group tokens: tokens so far and in all, over its sequences. */
  onProgress(generated: number, total: number): void;
}

export interface ContinuousBatchOptions {
  /** Most sequences decoded together; more wait for a row to free up. */
  maxBatch: number;
  padId: number;
  /** true: prefill each joining row once, then one token per row per step. false: re-feed every row's whole sequence each step. */
  useKvCache: boolean;
}

/** Counters since the engine started, for benchmarks and metrics. */
export interface BatchStats {
  /** Time with at least one sequence admitted or waiting. */
  busyMs: number;
  /** Time inside `session.run`. */
  runMs: number;
  /** Time sampling tokens from the logits. */
  samplingMs: number;
  /** Model calls: prefills of joining rows, and decode steps. */
  prefills: number;
  steps: number;
  /** Sum over decode steps of the rows decoded: `rowSteps / steps` is the mean batch. */
  rowSteps: number;
  tokens: number;
}

interface Group {
  hooks: GroupHooks;
  slots: Slot[];
  generated: number;
  total: number;
  remaining: number;
  settled: boolean;
  resolve(tokens: number[][]): void;
  reject(error: Error): void;
}

interface Slot {
  sequence: PlanSequence;
  group: Group;
  random: SeededRandom;
  tokens: number[];
  /** Prompt then generated image-token ids: fed whole each step without the cache. */
  ids: number[];
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Most positions (rows x padded prompt length) one prefill call feeds. Its logits are
 * [rows, length, vocab] floats, so joining rows with long prompts are prefilled a few at
 * a time (one at least) instead of all at once.
 */
const PREFILL_POSITIONS = 4096;

/**
 * Continuous batching for the planner. Sequences of any image size and prompt length join
 * a running batch between steps and leave it when they have their tokens, are canceled
 * or fail, while the others keep decoding: one `session.run` per step for all rows. Only
 * sequences of the same `batchKey` share a batch (see admit).
 *
 * Each row has its own position ids (its real length), attention mask (its left padding
 * masked), sampler seeded from its own seed, and stopping point. A joining row is
 * prefilled in a model call of the joining rows alone, then its cache is merged into the
 * batch's (BatchKvCache). So a row sees exactly the inputs it would see alone, and with a
 * model whose rows do not interact and whose padding contributes exact zeros (the
 * reference pack's planner; the tests prove it) it samples exactly the tokens it would
 * sample alone. Kernels that change their summation order with the batch shape can move
 * a real model's logits in the last bits (see README.md here).
 */
export class ContinuousBatch {
  private readonly cache: BatchKvCache;
  private readonly feedsPositions: boolean;
  /** Rows of the batch, in cache order. */
  private rows: Slot[] = [];
  private readonly waiting: Slot[] = [];
  private loop: Promise<void> | null = null;
  /** When the running loop started (it counts towards busyMs as it goes). */
  private busySince: number | null = null;
  private readonly counters: BatchStats = {
    busyMs: 0,
    runMs: 0,
    samplingMs: 0,
    prefills: 0,
    steps: 0,
    rowSteps: 0,
    tokens: 0,
  };

  constructor(
    private readonly session: InferenceSession,
    private readonly manifest: ModelPackManifest,
    private readonly options: ContinuousBatchOptions,
  ) {
    const { numLayers, numKvHeads, headDim } = manifest.planner;
    const names: string[] = [];
    for (let i = 0; i < numLayers; i++) {
      names.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
    }
    this.cache = new BatchKvCache(names, numKvHeads, headDim);
    this.feedsPositions = session.inputNames.includes('position_ids');
  }

  get stats(): BatchStats {
    const running = this.busySince === null ? 0 : performance.now() - this.busySince;
    return { ...this.counters, busyMs: this.counters.busyMs + running };
  }

  /** Generates every sequence; resolves with their codebook indices, `count` each, in order. */
  generate(sequences: readonly PlanSequence[], hooks: GroupHooks): Promise<number[][]> {
    const empty = sequences.find((s) => !(s.count >= 1 && s.promptIds.length >= 1));
    if (empty) {
      return Promise.reject(
        new RangeError('a sequence needs at least one prompt token and one token to generate'),
      );
    }
    return new Promise((resolve, reject) => {
      const group: Group = {
        hooks,
        slots: [],
        generated: 0,
        total: sequences.reduce((sum, s) => sum + s.count, 0),
        remaining: sequences.length,
        settled: false,
        resolve: (tokens) => {
          group.settled = true;
          resolve(tokens);
        },
        reject: (error) => {
          group.settled = true;
          reject(error);
        },
      };
      if (sequences.length === 0) return group.resolve([]);
      group.slots = sequences.map((sequence) => ({
        sequence,
        group,
        random: new SeededRandom(sequence.seed),
        tokens: [],
        ids: sequence.promptIds.slice(),
      }));
      this.waiting.push(...group.slots);
      this.loop ??= this.run();
    });
  }

  private async run(): Promise<void> {
    const started = performance.now();
    this.busySince = started;
    try {
      while (this.rows.length > 0 || this.waiting.length > 0) {
        // Lets new requests and cancellations reach this thread between steps.
        await yieldToEventLoop();
        this.settleCanceled();
        const joining = this.admit();
        if (this.options.useKvCache) {
          const prefills: PrefillResult[] = [];
          for (const chunk of prefillChunks(joining)) {
            const prefill = await this.prefill(chunk);
            if (prefill) prefills.push(prefill);
          }
          this.regroup(prefills);
          if (this.rows.length > 0) await this.decode();
        } else {
          this.rows = this.rows.filter((slot) => !this.isDone(slot)).concat(joining);
          if (this.rows.length > 0) await this.recompute();
        }
      }
    } catch (cause) {
      // A fault of the loop itself: every request in it fails instead of waiting forever.
      const error =
        cause instanceof ModelError
          ? cause
          : new ModelError(`planner batch failed: ${String(cause)}`, { cause });
      this.fail([...this.rows, ...this.waiting.splice(0)], error);
      this.rows = [];
      this.cache.rebuild([]);
    } finally {
      this.counters.busyMs += performance.now() - started;
      this.busySince = null;
      // Cleared in the same synchronous stretch as the last check for work, so a
      // request that arrives after it starts a new loop.
      this.loop = null;
    }
  }

  private isDone(slot: Slot): boolean {
    return slot.group.settled || slot.tokens.length === slot.sequence.count;
  }

  private settleCanceled(): void {
    for (const slot of [...this.rows, ...this.waiting]) {
      if (!slot.group.settled && slot.group.hooks.isCanceled()) slot.group.reject(new CanceledError());
    }
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i]!.group.settled) this.waiting.splice(i, 1);
    }
  }

  /**
   * Takes waiting sequences into the rows that are free, first come first served among
   * those of the batch's key: the running rows' key, or when none run, the key of the
   * sequence that has waited longest. While a sequence of another key waits, the running
   * batch takes no one else, so it drains and the key that has waited longest goes next:
   * no key is starved.
   */
  private admit(): Slot[] {
    const running = this.rows.filter((slot) => !this.isDone(slot));
    const free = this.options.maxBatch - running.length;
    if (free <= 0 || this.waiting.length === 0) return [];
    const key = keyOf(running[0] ?? this.waiting[0]!);
    if (running.length > 0 && this.waiting.some((slot) => keyOf(slot) !== key)) return [];
    const joining: Slot[] = [];
    for (let i = 0; i < this.waiting.length && joining.length < free; ) {
      if (keyOf(this.waiting[i]!) === key) joining.push(...this.waiting.splice(i, 1));
      else i += 1;
    }
    return joining;
  }

  /** Runs the joining rows' prompts (left-padded among themselves) and samples each one's first token. */
  private async prefill(joining: Slot[]): Promise<PrefillResult | null> {
    const padded = leftPad(
      joining.map((slot) => slot.sequence.promptIds),
      this.options.padId,
    );
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(padded.inputIds, [joining.length, padded.length]),
      attention_mask: int64Tensor(padded.attentionMask, [joining.length, padded.length]),
      ...this.cache.emptyPast(joining.length).tensors,
    };
    if (this.feedsPositions) {
      feeds.position_ids = int64Tensor(padded.positionIds, [joining.length, padded.length]);
    }
    this.counters.prefills += 1;
    const outputs = await this.call(feeds, joining, padded.length);
    if (!outputs) return null;
    return { outputs, joining, width: padded.length };
  }

  /**
   * The batch for the next step: the rows still decoding, then the rows just prefilled
   * that still need tokens. The cache is rebuilt only when the membership changed.
   */
  private regroup(prefills: PrefillResult[]): void {
    const keep: number[] = [];
    this.rows.forEach((slot, i) => {
      if (!this.isDone(slot)) keep.push(i);
    });
    const joined: Slot[] = [];
    const sources: RowSource[] = [];
    for (const { outputs, joining, width } of prefills) {
      const needed = joining.map((slot, row) => ({ slot, row })).filter(({ slot }) => !this.isDone(slot));
      if (needed.length === 0) continue;
      let source: KvTensors;
      try {
        source = this.cache.prefilled(outputs, joining.length, width);
      } catch (error) {
        // Unusable present tensors fail the rows prefilled with them, no others.
        this.fail(
          needed.map(({ slot }) => slot),
          error as Error,
        );
        continue;
      }
      for (const { slot, row } of needed) {
        joined.push(slot);
        sources.push({ source, row, length: slot.sequence.promptIds.length });
      }
    }
    if (keep.length === this.rows.length && joined.length === 0) return;
    this.cache.rebuild(keep, sources);
    this.rows = [...keep.map((i) => this.rows[i]!), ...joined];
  }

  /** One token for every row: each feeds its last token at its own position. */
  private async decode(): Promise<void> {
    const batch = this.rows.length;
    const { firstTokenId } = this.manifest.planner.imageVocab;
    const mask = this.cache.stepMask(1);
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(
        this.rows.map((slot) => firstTokenId + slot.tokens.at(-1)!),
        [batch, 1],
      ),
      attention_mask: new Tensor('int64', mask, [batch, this.cache.width + 1]),
      ...this.cache.feeds(),
    };
    if (this.feedsPositions) {
      feeds.position_ids = int64Tensor(
        this.rows.map((_, b) => this.cache.lengthOf(b)),
        [batch, 1],
      );
    }
    this.counters.steps += 1;
    this.counters.rowSteps += batch;
    const outputs = await this.call(feeds, this.rows, 1);
    if (!outputs) return;
    try {
      this.cache.advance(outputs);
    } catch (error) {
      this.fail(this.rows, error as Error);
    }
  }

  /** Without the cache: every row feeds its whole sequence again, left-padded, with empty past. */
  private async recompute(): Promise<void> {
    const batch = this.rows.length;
    const padded = leftPad(
      this.rows.map((slot) => slot.ids),
      this.options.padId,
    );
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(padded.inputIds, [batch, padded.length]),
      attention_mask: int64Tensor(padded.attentionMask, [batch, padded.length]),
      ...this.cache.emptyPast(batch).tensors,
    };
    if (this.feedsPositions) feeds.position_ids = int64Tensor(padded.positionIds, [batch, padded.length]);
    this.counters.steps += 1;
    this.counters.rowSteps += batch;
    await this.call(feeds, this.rows, padded.length);
  }

  /**
   * Runs the model on `slots` (fed `length` positions each) and samples one token per
   * row from its last position. A failed call fails every group in it; unusable logits
   * in one row fail that row's group only. Returns the outputs, or null when the call failed.
   */
  private async call(
    feeds: Record<string, Tensor>,
    slots: Slot[],
    length: number,
  ): Promise<InferenceSession.OnnxValueMapType | null> {
    const { imageVocab } = this.manifest.planner;
    const before = performance.now();
    let outputs: InferenceSession.OnnxValueMapType;
    try {
      outputs = await this.session.run(feeds);
    } catch (cause) {
      this.fail(slots, new ModelError(`planner failed: ${(cause as Error).message}`, { cause }));
      return null;
    } finally {
      this.counters.runMs += performance.now() - before;
    }
    const logits = outputs.logits as Tensor | undefined;
    const expected = `[${slots.length}, ${length}, ${imageVocab.size}]`;
    if (
      logits?.dims.length !== 3 ||
      logits.dims[0] !== slots.length ||
      logits.dims[1] !== length ||
      logits.dims[2] !== imageVocab.size
    ) {
      const got = logits ? `shape [${logits.dims.join(', ')}]` : 'none';
      this.fail(slots, new ModelError(`planner logits have ${got}, expected ${expected}`));
      return null;
    }
    const sampled = performance.now();
    const data = logits.data as Float32Array;
    const vocab = imageVocab.size;
    slots.forEach((slot, b) => {
      if (slot.group.settled) return;
      const offset = (b * length + length - 1) * vocab;
      let token: number;
      try {
        token = sampleToken(
          data.subarray(offset, offset + vocab),
          imageVocab.codebookSize,
          slot.sequence.sampling,
          slot.random,
        );
      } catch (cause) {
        this.fail(
          [slot],
          new ModelError(`planner produced unusable logits at token ${slot.tokens.length}`, { cause }),
        );
        return;
      }
      slot.tokens.push(token);
      if (!this.options.useKvCache) slot.ids.push(imageVocab.firstTokenId + token);
      this.counters.tokens += 1;
      this.progress(slot);
    });
    this.counters.samplingMs += performance.now() - sampled;
    return outputs;
  }

  private progress(slot: Slot): void {
    const { group } = slot;
    group.generated += 1;
    try {
      group.hooks.onProgress(group.generated, group.total);
    } catch {
      // a faulty listener must not stop the batch
    }
    if (slot.tokens.length === slot.sequence.count) {
      group.remaining -= 1;
      if (group.remaining === 0) group.resolve(group.slots.map((s) => s.tokens));
    }
  }

  private fail(slots: Slot[], error: Error): void {
    for (const slot of slots) if (!slot.group.settled) slot.group.reject(error);
  }
}

const keyOf = (slot: Slot): string => slot.sequence.batchKey ?? '';

interface PrefillResult {
  outputs: InferenceSession.OnnxValueMapType;
  joining: Slot[];
  width: number;
}

/** Joining rows in arrival order, cut so that no prefill call feeds more than PREFILL_POSITIONS positions. */
function prefillChunks(joining: Slot[]): Slot[][] {
  const chunks: Slot[][] = [];
  let chunk: Slot[] = [];
  let longest = 0;
  for (const slot of joining) {
    const length = Math.max(longest, slot.sequence.promptIds.length);
    if (chunk.length > 0 && (chunk.length + 1) * length > PREFILL_POSITIONS) {
      chunks.push(chunk);
      chunk = [];
      longest = 0;
    }
    chunk.push(slot);
    longest = Math.max(longest, slot.sequence.promptIds.length);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function int64Tensor(values: number[], dims: number[]): Tensor {
  return new Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}
