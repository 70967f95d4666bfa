/**
 * The training export: walks one tenant's training index for one stage (generations in
 * the order they were last scored or given feedback about it) and turns each into its
 * rows (the schemas in @glm-image/shared/training-export), streamed as they are made.
 * Each row carries the cursor that resumes right after it: the index position of its
 * generation and how many of that generation's rows came before. A generation annotated
 * again moves to the end of the index and is exported again; its rows keep their ids.
 */
import { extractQuotedSpans } from '@glm-image/inference';
import { NotFoundError } from '@glm-image/shared/errors';
import { type GenerationRecord, outputSeed } from '@glm-image/shared/generation';
import { type Feedback, isAbout, planGenerationId, type QualityStage } from '@glm-image/shared/quality';
import { type ObjectStore, tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan, type StoredPlan } from '@glm-image/shared/tokens';
import {
  type DecodePreferenceRow,
  type DecodeRow,
  type ExportCursor,
  encodeExportCursor,
  type PlanRow,
  type PreferenceImage,
  type ReferenceImageRow,
  type TrainingRow,
} from '@glm-image/shared/training-export';
import type { TrainingEntry, TrainingIndex } from '@glm-image/shared/training-index';

/** Index entries read at a time. */
const PAGE_SIZE = 50;
/** Stored plans kept while one export runs: renders of one plan follow each other closely. */
const PLAN_CACHE_SIZE = 64;

export interface ExportRequest {
  tenant: string;
  stage: QualityStage;
  /** Where to start: a cursor a row carried, else the time to start from (µs), else the beginning. */
  cursor?: ExportCursor;
  sinceMicros?: string;
  limit: number;
}

/** A row before its cursor is known (each kind on its own, so the union stays discriminated). */
type WithoutCursor<T> = T extends unknown ? Omit<T, 'cursor'> : never;
type Row = WithoutCursor<TrainingRow>;

export class TrainingExport {
  constructor(
    private readonly index: TrainingIndex,
    private readonly objects: ObjectStore,
  ) {}

  async *rows(request: ExportRequest): AsyncGenerator<TrainingRow> {
    const { tenant, stage } = request;
    const plans = new PlanCache(this.objects);
    let position = request.cursor
      ? { score: request.cursor.score, id: request.cursor.id, given: request.cursor.rows }
      : { score: request.sinceMicros ?? '0', id: '', given: 0 };
    let emitted = 0;
    for (;;) {
      const page = await this.index.page(tenant, stage, {
        minScore: position.score,
        cursorId: position.id,
        limit: PAGE_SIZE,
      });
      let progressed = false;
      for (const entry of page) {
        const atCursor = entry.score === position.score && entry.record.id === position.id;
        const rows =
          stage === 'plan' ? await this.planRows(entry, plans) : await this.decodeRows(entry, plans);
        for (let k = atCursor ? position.given : 0; k < rows.length; k += 1) {
          const cursor = encodeExportCursor({
            stage,
            tenant,
            score: entry.score,
            id: entry.record.id,
            rows: k + 1,
          });
          yield { ...rows[k]!, cursor } as TrainingRow;
          emitted += 1;
          if (emitted >= request.limit) return;
        }
        if (!atCursor) progressed = true;
        position = { score: entry.score, id: entry.record.id, given: rows.length };
      }
      if (!progressed) return;
    }
  }

  private async planRows(entry: TrainingEntry, plans: PlanCache): Promise<Row[]> {
    const { record } = entry;
    if (record.input.source_generation_id !== undefined) return [];
    const stored = await plans.get(record.tenant, record.id);
    const row: Omit<PlanRow, 'cursor'> = {
      kind: 'plan',
      id: `plan:${record.id}`,
      tenant: record.tenant,
      annotated_at: isoOfMicros(entry.score),
      generation_id: record.id,
      created_at: record.created_at,
      prompt: record.input.prompt,
      reference_images: referenceImages(record, stored),
      width: record.input.width,
      height: record.input.height,
      seed: record.input.seed,
      temperature: record.input.temperature,
      top_p: record.input.top_p,
      tokens: stored ? { preview: stored.preview, main: stored.main } : null,
      preview: record.preview ? { ...record.preview } : null,
      scores: record.quality?.plan?.scores ?? {},
      quality: record.quality?.plan ?? null,
      feedback: about(record, 'plan'),
    };
    return [row];
  }

  private async decodeRows(entry: TrainingEntry, plans: PlanCache): Promise<Row[]> {
    const { record } = entry;
    if (record.outputs.length === 0) return [];
    const planId = planGenerationId(record);
    const stored = await plans.get(record.tenant, planId);
    const glyphText = extractQuotedSpans(record.input.prompt);
    const references = referenceImages(record, stored);
    const scoresOf = (index: number) =>
      record.quality?.decode?.outputs?.find((o) => o.index === index)?.scores ?? {};
    const decode: Omit<DecodeRow, 'cursor'> = {
      kind: 'decode',
      id: `decode:${record.id}`,
      tenant: record.tenant,
      annotated_at: isoOfMicros(entry.score),
      generation_id: record.id,
      plan_generation_id: planId,
      created_at: record.created_at,
      tokens: stored?.main ?? null,
      reference_images: references,
      glyph_text: glyphText,
      width: record.input.width,
      height: record.input.height,
      steps: record.input.steps,
      guidance_scale: record.input.guidance_scale,
      images: record.outputs.map((output, index) => ({
        index,
        key: output.key,
        seed: outputSeed(record.input.seed, index),
        width: output.width,
        height: output.height,
        format: output.format,
        sha256: output.sha256,
        scores: scoresOf(index),
      })),
      scores: record.quality?.decode?.scores ?? {},
      quality: record.quality?.decode ?? null,
      feedback: about(record, 'decode'),
    };
    const pair = (
      id: string,
      basis: DecodePreferenceRow['basis'],
      chosen: PreferenceImage,
      rejected: PreferenceImage,
      feedbackIds: string[],
    ): Omit<DecodePreferenceRow, 'cursor'> => ({
      kind: 'decode_preference',
      id,
      tenant: record.tenant,
      annotated_at: isoOfMicros(entry.score),
      plan_generation_id: planId,
      basis,
      tokens: stored?.main ?? null,
      reference_images: references,
      glyph_text: glyphText,
      chosen,
      rejected,
      feedback_ids: feedbackIds,
    });
    const rows: Row[] = [decode];

    // A person chose one of this generation's images over the others.
    const choice = latest(record, (f) => f.preferred_output !== undefined);
    const chosenIndex = choice?.preferred_output;
    if (choice && chosenIndex !== undefined && chosenIndex < record.outputs.length) {
      for (let other = 0; other < record.outputs.length; other += 1) {
        if (other === chosenIndex) continue;
        const [a, b] = [Math.min(chosenIndex, other), Math.max(chosenIndex, other)];
        rows.push(
          pair(
            `decode_preference:choice:${record.id}:${a}:${b}`,
            'chosen_output',
            image(record, chosenIndex),
            image(record, other),
            [choice.id],
          ),
        );
      }
    }

    // Renders of the same plan rated differently: each pair is given by the later-rated of the two.
    const rating = latest(record, (f) => f.rating !== undefined);
    if (rating) {
      const rated = await this.index.ratedRenders(planId);
      const mine = rated.find((r) => r.id === record.id);
      const earlier = rated.filter(
        (r) =>
          mine &&
          r.id !== record.id &&
          (Number(r.score) < Number(mine.score) || (r.score === mine.score && r.id < record.id)),
      );
      const partners = await this.index.records(earlier.map((r) => r.id));
      for (const partner of partners) {
        if (!partner || partner.tenant !== record.tenant || partner.outputs.length === 0) continue;
        const theirs = latest(partner, (f) => f.rating !== undefined);
        if (!theirs || theirs.rating === rating.rating) continue;
        const [better, worse] = theirs.rating! > rating.rating! ? [partner, record] : [record, partner];
        const [low, high] = [record.id, partner.id].sort();
        rows.push(
          pair(
            `decode_preference:ratings:${low}:${high}`,
            'ratings',
            representative(better),
            representative(worse),
            [rating.id, theirs.id].sort(),
          ),
        );
      }
    }
    return rows;
  }
}

/**
 * The reference images of an edit with the tokens its plan read them as (a re-render
 * holds copies of its source's images, and its source's plan).
 */
function referenceImages(record: GenerationRecord, stored: StoredPlan | null): ReferenceImageRow[] {
  return (record.input.reference_images ?? []).map((image, i) => ({
    key: image.key,
    width: image.width,
    height: image.height,
    format: image.format,
    sha256: image.sha256,
    tokens: stored?.references?.[i] ?? null,
  }));
}

/** The generation's feedback about `stage`, oldest first. */
function about(record: GenerationRecord, stage: QualityStage): Feedback[] {
  return (record.feedback ?? []).filter((f) => isAbout(f, stage));
}

/** The latest feedback about the images that `matches`. */
function latest(record: GenerationRecord, matches: (f: Feedback) => boolean): Feedback | undefined {
  return about(record, 'decode').filter(matches).at(-1);
}

function image(record: GenerationRecord, index: number): PreferenceImage {
  const output = record.outputs[index]!;
  const rated = latest(record, (f) => f.rating !== undefined)?.rating;
  return {
    generation_id: record.id,
    index,
    key: output.key,
    seed: outputSeed(record.input.seed, index),
    steps: record.input.steps,
    guidance_scale: record.input.guidance_scale,
    width: output.width,
    height: output.height,
    ...(rated !== undefined ? { rating: rated } : {}),
  };
}

/** A rated generation's image in a pair: the one its person preferred, else its first. */
function representative(record: GenerationRecord): PreferenceImage {
  const preferred = latest(record, (f) => f.preferred_output !== undefined)?.preferred_output;
  return image(record, preferred !== undefined && preferred < record.outputs.length ? preferred : 0);
}

function isoOfMicros(score: string): string {
  return new Date(Math.floor(Number(score) / 1000)).toISOString();
}

/** Stored plans (tokens.json) by generation, read once per export; null when gone. */
class PlanCache {
  private readonly plans = new Map<string, Promise<StoredPlan | null>>();
  constructor(private readonly objects: ObjectStore) {}

  get(tenant: string, id: string): Promise<StoredPlan | null> {
    let plan = this.plans.get(id);
    if (!plan) {
      plan = this.objects.getBuffer(tokensKey(tenant, id)).then(parseStoredPlan, (error: unknown) => {
        if (error instanceof NotFoundError) return null;
        throw error;
      });
      if (this.plans.size >= PLAN_CACHE_SIZE) this.plans.delete(this.plans.keys().next().value!);
      this.plans.set(id, plan);
    }
    return plan;
  }
}
