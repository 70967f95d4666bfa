/**
 * One evaluate job: the automatic quality signals of a generation that succeeded, per
 * stage, written onto it as annotations (its status, timings and events stay as they
 * are) and observed as metrics.
 *
 *   plan    (generations that ran the planner; a re-render's plan is its source's):
 *           the pack's builtin layout check on the stored preview grid, and its plan
 *           scorer models on the preview image;
 *   decode  (generations with images; a plan-only one has none): text legibility, OCR
 *           against the quoted spans the decoder was given, and the pack's decode
 *           scorer models, per image, then averaged.
 *
 * A stage already scored is not scored again, so a repeated job only fills what is
 * missing. A failure that another try cannot fix ends the job; the generation is as it was.
 */
import { extractQuotedSpans, type ImageScorers } from '@glm-image/inference';
import type { BuiltinScorerEntry } from '@glm-image/inference/model-pack-manifest';
import { NotFoundError } from '@glm-image/shared/errors';
import type { GenerationRecord } from '@glm-image/shared/generation';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import type { ServiceMetrics } from '@glm-image/shared/metrics';
import type { OutputQuality, QualityStage, StageQuality } from '@glm-image/shared/quality';
import { evaluateJobDataSchema } from '@glm-image/shared/queues';
import { type ObjectStore, tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan } from '@glm-image/shared/tokens';
import { classifyFailure, type JobLogger } from '@glm-image/worker-runtime';
import { type Job, UnrecoverableError } from 'bullmq';
import type { OcrEngine } from './scorers/ocr-engine.ts';
import { scoreReferenceLayout } from './scorers/reference-layout.ts';
import { scoreTextLegibility } from './scorers/text-legibility.ts';

export interface EvaluateJobDeps {
  lifecycle: GenerationLifecycle;
  objects: ObjectStore;
  metrics: ServiceMetrics;
  log: JobLogger;
  ocr: OcrEngine;
  /** The pack's ONNX scorer models; null when it names none. */
  scorers: ImageScorers | null;
  /** The pack's builtin scorers. */
  builtins: readonly BuiltinScorerEntry[];
}

/** Names the OCR scorer goes by in `scorers`: the engine and its language data. */
export const OCR_SCORER = 'ocr-cer (tesseract.js, eng)';

const neverStopped = new AbortController().signal;

export async function runEvaluateJob(deps: EvaluateJobDeps, job: Job): Promise<void> {
  const parsed = evaluateJobDataSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError('invalid evaluate job payload');
  const id = parsed.data.generationId;
  const record = await deps.lifecycle.store.get(id);
  if (record?.status !== 'succeeded') {
    deps.log.info({ generation_id: id, status: record?.status ?? 'expired' }, 'nothing to evaluate');
    return;
  }
  try {
    if (!record.quality?.plan && record.input.source_generation_id === undefined) {
      await write(deps, record, 'plan', await scorePlan(deps, record));
    }
    if (!record.quality?.decode && record.outputs.length > 0) {
      await write(deps, record, 'decode', await scoreDecode(deps, record));
    }
  } catch (error) {
    if (classifyFailure(error, neverStopped) === 'permanent') {
      deps.log.error({ generation_id: id, err: (error as Error).message }, 'evaluation failed');
      throw new UnrecoverableError((error as Error).message);
    }
    throw error;
  }
}

async function write(
  deps: EvaluateJobDeps,
  record: GenerationRecord,
  stage: QualityStage,
  quality: StageQuality | null,
): Promise<void> {
  if (!quality) return;
  const written = await deps.lifecycle.recordQuality(record.id, stage, quality);
  if (written?.outcome !== 'ok') return; // expired meanwhile
  for (const [score, value] of Object.entries(quality.scores)) {
    deps.metrics.observeQualityScore(stage, score, value);
  }
  deps.log.info({ generation_id: record.id, stage, scores: quality.scores }, 'generation scored');
}

/** The object, or null when it is gone (retention, or never written). */
async function optionalObject(objects: ObjectStore, key: string): Promise<Buffer | null> {
  try {
    return await objects.getBuffer(key);
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

async function scorePlan(deps: EvaluateJobDeps, record: GenerationRecord): Promise<StageQuality | null> {
  const quality: StageQuality = { scored_at: '', scores: {}, scorers: [] };
  if (deps.builtins.some((b) => b.stage === 'plan')) {
    const stored = await optionalObject(deps.objects, tokensKey(record.tenant, record.id));
    const plan = stored ? parseStoredPlan(stored) : null;
    for (const builtin of deps.builtins) {
      if (builtin.stage !== 'plan' || !plan) continue;
      const layout = scoreReferenceLayout(record.input.prompt, plan.preview);
      quality.scores[builtin.name] = layout.alignment;
      quality.checks = layout.checks;
      quality.scorers.push(builtin.builtin);
    }
  }
  const planScorers = deps.scorers?.names('plan') ?? [];
  if (planScorers.length > 0 && record.preview) {
    const preview = await optionalObject(deps.objects, record.preview.key);
    if (preview) {
      Object.assign(quality.scores, await deps.scorers!.score('plan', preview, record.input.prompt));
      quality.scorers.push(...planScorers);
    }
  }
  return finished(quality);
}

async function scoreDecode(deps: EvaluateJobDeps, record: GenerationRecord): Promise<StageQuality | null> {
  const spans = extractQuotedSpans(record.input.prompt);
  const decodeScorers = deps.scorers?.names('decode') ?? [];
  if (spans.length === 0 && decodeScorers.length === 0) return null;
  const outputs: OutputQuality[] = [];
  for (const [index, output] of record.outputs.entries()) {
    const image = await optionalObject(deps.objects, output.key);
    if (!image) continue;
    const scored: OutputQuality = { index, scores: {} };
    const text = await scoreTextLegibility(deps.ocr, image, spans);
    if (text) {
      scored.scores.text_legibility = text.legibility;
      scored.spans = text.spans;
    }
    if (decodeScorers.length > 0) {
      Object.assign(scored.scores, await deps.scorers!.score('decode', image, record.input.prompt));
    }
    outputs.push(scored);
  }
  if (outputs.length === 0) return null;
  const quality: StageQuality = {
    scored_at: '',
    scores: meanScores(outputs),
    scorers: [...(spans.length > 0 ? [OCR_SCORER] : []), ...decodeScorers],
    outputs,
  };
  return finished(quality);
}

/** Each score's mean over the images that have it. */
function meanScores(outputs: readonly OutputQuality[]): Record<string, number> {
  const sums = new Map<string, { total: number; count: number }>();
  for (const output of outputs) {
    for (const [name, value] of Object.entries(output.scores)) {
      const sum = sums.get(name) ?? { total: 0, count: 0 };
      sum.total += value;
      sum.count += 1;
      sums.set(name, sum);
    }
  }
  return Object.fromEntries([...sums].map(([name, { total, count }]) => [name, total / count]));
}

/** Null when no scorer ran; otherwise stamped with the time. */
function finished(quality: StageQuality): StageQuality | null {
  if (quality.scorers.length === 0) return null;
  return { ...quality, scored_at: new Date().toISOString() };
}
