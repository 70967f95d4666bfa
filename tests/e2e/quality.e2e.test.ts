/**
 * The quality loop end to end: generations succeed with no evaluator running (scoring
 * never holds up `succeeded`), an evaluator process started afterwards scores each stage
 * (OCR of the images against the quoted text, the plan's layout), people give feedback
 * over HTTP, and an admin exports per-stage training rows, preference pairs included.
 *
 * The garbled generation is made the way a decoder given the wrong glyphs would make it:
 * after it succeeded, its image is rendered again by the real decoder from its own
 * stored tokens with other quoted text as glyphs, and stored in its place, before any
 * evaluator has looked at it.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder } from '../../packages/inference/src/decoder/decoder.ts';
import { loadModelPack } from '../../packages/inference/src/model-pack.ts';
import { ObjectStore, outputKey, tokensKey } from '../../packages/shared/src/storage.ts';
import { parseStoredPlan } from '../../packages/shared/src/tokens.ts';
import { type TrainingRow, TrainingRowSchema } from '../../packages/shared/src/training-export.ts';
import { objectStoreConfigFor } from '../../packages/testing/src/s3-server.ts';
import {
  API_KEY,
  ApiClient,
  type E2eSystem,
  type GenerationView,
  referencePackPath,
  startSystem,
} from './harness.ts';

const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

let system: E2eSystem;
let admin: ApiClient;

beforeAll(async () => {
  system = await startSystem({
    evaluators: 0,
    env: {
      API_KEYS: JSON.stringify([
        { sha256: sha256(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        { sha256: sha256(ADMIN_KEY), tenant: 'e2e', admin: true, rate_per_minute: 100_000 },
      ]),
    },
  });
  admin = new ApiClient(system.stack.apiUrl, ADMIN_KEY);
});

afterAll(async () => {
  await system?.stop();
});

type Scored = GenerationView & {
  completed_at: string;
  quality?: {
    plan?: { scores: Record<string, number> };
    decode?: {
      scores: Record<string, number>;
      outputs?: Array<{ index: number; spans?: Array<{ text: string; read: string; cer: number }> }>;
    };
  };
  feedback?: Array<{ id: string; rating?: number; labels: string[]; preferred_output?: number }>;
};

/** Redraws a generation's first image from its own stored tokens, with `glyphText` as the decoder's quoted text. */
async function redrawWithGlyphs(generation: GenerationView, glyphText: string): Promise<void> {
  const objects = new ObjectStore(objectStoreConfigFor(system.s3));
  const decoder = await Decoder.load(await loadModelPack(await referencePackPath()));
  try {
    const plan = parseStoredPlan(await objects.getBuffer(tokensKey('e2e', generation.id)));
    const input = generation.input as { width: number; height: number; seed: number; steps: number };
    const garbled = await decoder.render({
      prompt: `a white card with the words "${glyphText}"`,
      main: plan!.main,
      width: input.width,
      height: input.height,
      seed: input.seed,
      steps: input.steps,
    });
    await objects.put(outputKey('e2e', generation.id, 0, 'png'), garbled.image, 'image/png');
  } finally {
    await decoder.close();
    objects.close();
  }
}

async function exportRows(query: string): Promise<TrainingRow[]> {
  const res = await admin.request(`/v1/feedback/export?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const text = await res.text();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => TrainingRowSchema.parse(JSON.parse(line)));
}

describe('quality signals, feedback and the training export', () => {
  let legible: Scored;
  let garbled: Scored;

  it('ends generations succeeded with no evaluator running, then scores them once one runs', async () => {
    const prompt = 'a white card with the words "HELLO WORLD"';
    const submitted = await Promise.all([
      system.client.submit({ prompt, width: 512, height: 512, steps: 4, seed: 21, n: 2 }),
      system.client.submit({ prompt, width: 512, height: 512, steps: 4, seed: 22 }),
    ]);
    const done = await Promise.all(submitted.map((g) => system.client.waitFor(g.id)));
    for (const generation of done) {
      expect(generation.status, JSON.stringify(generation.error)).toBe('succeeded');
      expect((generation as Scored).quality).toBeUndefined();
    }
    // The second one's decoder "was given" other glyphs than the prompt quotes.
    await redrawWithGlyphs(done[1]!, 'IFMMP XPSME');

    await system.stack.addEvaluator();
    const scored = (g: Scored) => g.quality?.plan !== undefined && g.quality?.decode !== undefined;
    [legible, garbled] = (await Promise.all(
      done.map((g) => system.client.waitFor(g.id, (latest) => scored(latest as Scored))),
    )) as [Scored, Scored];

    // Scoring annotated the generations without moving them.
    expect(legible.status).toBe('succeeded');
    expect(legible.completed_at).toBe((done[0] as Scored).completed_at);

    const legibleSpans = legible.quality!.decode!.outputs!.map((o) => o.spans?.[0]);
    expect(legibleSpans).toHaveLength(2);
    for (const span of legibleSpans)
      expect(span).toMatchObject({ text: 'HELLO WORLD', read: 'HELLO WORLD', cer: 0 });
    const garbledSpan = garbled.quality!.decode!.outputs![0]!.spans![0]!;
    expect(garbledSpan.text).toBe('HELLO WORLD');
    expect(garbledSpan.cer).toBeGreaterThan(0.5);
    expect(legible.quality!.decode!.scores.text_legibility).toBeGreaterThan(
      garbled.quality!.decode!.scores.text_legibility!,
    );
    // The plans are the same kind of plan: both follow the prompt.
    expect(legible.quality!.plan!.scores.prompt_alignment).toBe(1);
    expect(garbled.quality!.plan!.scores.prompt_alignment).toBe(1);
  });

  it('takes feedback over HTTP, once per Idempotency-Key, and shows it on the generation', async () => {
    const body = JSON.stringify({ stage: 'decode', rating: 4, labels: ['artifacts'], preferred_output: 1 });
    const post = () =>
      system.client.request(`/v1/generations/${legible.id}/feedback`, {
        method: 'POST',
        body,
        headers: { 'idempotency-key': 'e2e-feedback-1' },
      });
    const first = await post();
    expect(first.status).toBe(201);
    const again = await post();
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(await first.json());
    const other = await system.client.request(`/v1/generations/${garbled.id}/feedback`, {
      method: 'POST',
      body: JSON.stringify({ stage: 'both', rating: 1, labels: ['text_wrong'], comment: 'unreadable' }),
    });
    expect(other.status).toBe(201);
    const shown = (await system.client.get(legible.id)) as Scored;
    expect(shown.feedback).toEqual([expect.objectContaining({ rating: 4, preferred_output: 1 })]);
  });

  it('exports valid planner rows, decoder rows and a preference pair to an admin', async () => {
    const forbidden = await system.client.request('/v1/feedback/export?stage=decode');
    expect(forbidden.status).toBe(403);

    const plan = await exportRows('stage=plan');
    const planRow = plan.find((r) => r.kind === 'plan' && r.generation_id === legible.id);
    expect(planRow).toMatchObject({
      prompt: legible.input.prompt,
      seed: 21,
      scores: { prompt_alignment: 1 },
    });
    if (planRow?.kind !== 'plan') throw new Error('no plan row');
    expect(planRow.tokens?.main.tokens.length).toBe(16 * 16);
    expect(planRow.preview?.key).toContain(legible.id);

    const decode = await exportRows('stage=decode');
    const kinds = new Set(decode.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['decode', 'decode_preference']);
    const garbledRow = decode.find((r) => r.kind === 'decode' && r.generation_id === garbled.id);
    if (garbledRow?.kind !== 'decode') throw new Error('no decode row');
    expect(garbledRow.glyph_text).toEqual(['HELLO WORLD']);
    expect(garbledRow.feedback.map((f) => f.labels)).toEqual([['text_wrong']]);
    const pair = decode.find((r) => r.kind === 'decode_preference');
    expect(pair).toMatchObject({
      basis: 'chosen_output',
      plan_generation_id: legible.id,
      chosen: { generation_id: legible.id, index: 1, seed: 22 },
      rejected: { generation_id: legible.id, index: 0, seed: 21 },
    });

    // The last row's cursor: nothing more until something changes.
    const rest = await exportRows(`stage=decode&cursor=${decode.at(-1)!.cursor}`);
    expect(rest).toEqual([]);
  });
});
