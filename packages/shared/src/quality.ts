/**
 * What is known about how good a generation is, stage by stage: the scores the
 * evaluator's scorers wrote after it succeeded, and what people said about it. The two
 * stages were tuned apart (the planner for prompt alignment and aesthetics, the decoder
 * for legible text and visual quality), so every signal names the stage it is about.
 * One zod schema per shape: the record stores it, the API shows it, the export reads it.
 */
import { z } from 'zod';

/** The stages scores are kept for: the planner's plan (its preview and tokens) and the decoder's images. */
export const QUALITY_STAGES = ['plan', 'decode'] as const;
export type QualityStage = (typeof QUALITY_STAGES)[number];

/** What a person's feedback is about. */
export const FEEDBACK_STAGES = ['plan', 'decode', 'both'] as const;
export type FeedbackStage = (typeof FEEDBACK_STAGES)[number];

/**
 * Labels clients are offered (the playground's buttons); any other lower_snake_case
 * label is accepted too, so a new label needs no release.
 */
export const SUGGESTED_FEEDBACK_LABELS = [
  'text_wrong',
  'layout_wrong',
  'colours_wrong',
  'missing_object',
  'bad_hands',
  'artifacts',
  'blurry',
] as const;

/** Ratings run from 1 (bad) to 5 (good). */
export const MIN_RATING = 1;
export const MAX_RATING = 5;

/** Feedback entries kept per generation: enough for a team rating one image, small enough to read on every GET. */
export const MAX_FEEDBACK_PER_GENERATION = 20;

const unitScore = z.number().min(0).max(1);

export const ScoresSchema = z
  .record(z.string(), unitScore)
  .describe('Score name → value in [0, 1], higher is better.');

export const SpanReadingSchema = z.object({
  text: z.string().describe('A quoted span of the prompt: the glyph text the decoder was given.'),
  read: z.string().describe('The closest text OCR found in the image ("" when none).'),
  cer: z
    .number()
    .min(0)
    .max(1)
    .describe('Character error rate of the reading: edit distance / span length, whitespace ignored.'),
});
export type SpanReading = z.infer<typeof SpanReadingSchema>;

export const OutputQualitySchema = z.object({
  index: z.number().int().nonnegative().describe('Which output image.'),
  scores: ScoresSchema,
  spans: z.array(SpanReadingSchema).optional().describe('One reading per quoted span; absent without any.'),
});
export type OutputQuality = z.infer<typeof OutputQualitySchema>;

/** A box in fractions of the image: left, top, width, height. */
export const FractionBoxSchema = z.object({ x: unitScore, y: unitScore, w: unitScore, h: unitScore });

export const LayoutCheckSchema = z.object({
  check: z.enum(['colour', 'text_panel']),
  subject: z.string().describe('The colour named in the prompt, or `text`.'),
  expected: z.boolean().describe('Whether the prompt asks for it.'),
  found: z.boolean().describe('Whether the preview shows it.'),
  coverage: unitScore.describe('Fraction of the preview it covers.'),
  box: FractionBoxSchema.optional().describe('Where the preview put it.'),
});
export type LayoutCheck = z.infer<typeof LayoutCheckSchema>;

export const StageQualitySchema = z
  .object({
    scored_at: z.string().describe('When the scorers ran.'),
    scores: ScoresSchema.describe(
      'Score name → value in [0, 1], higher is better. For `decode`, the mean over the images.',
    ),
    scorers: z.array(z.string()).min(1).describe('The scorers that produced these scores.'),
    outputs: z.array(OutputQualitySchema).optional().describe('`decode`: the scores of each image.'),
    checks: z.array(LayoutCheckSchema).optional().describe('`plan`: what the layout check looked for.'),
  })
  .describe("One stage's automatic scores.");
export type StageQuality = z.infer<typeof StageQualitySchema>;

export const GenerationQualitySchema = z
  .object({ plan: StageQualitySchema.optional(), decode: StageQualitySchema.optional() })
  .describe(
    'Automatic per-stage scores, written by the evaluator after the generation succeeded (never before ' +
      "`succeeded`). `plan` is absent for re-renders (their plan is the source generation's); `decode` is " +
      'absent for plan-only generations.',
  );
export type GenerationQuality = z.infer<typeof GenerationQualitySchema>;

export const FeedbackLabelSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be lower_snake_case, at most 40 characters');

export const FeedbackSchema = z
  .object({
    id: z.string(),
    created_at: z.string(),
    stage: z.enum(FEEDBACK_STAGES).describe('What the feedback is about: the plan, the images, or both.'),
    rating: z.number().int().min(MIN_RATING).max(MAX_RATING).optional().describe('1 (bad) to 5 (good).'),
    labels: z.array(FeedbackLabelSchema).describe(`e.g. ${SUGGESTED_FEEDBACK_LABELS.join(', ')}.`),
    comment: z.string().optional(),
    preferred_output: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('For a generation of several images: the index of the one the person preferred.'),
  })
  .describe("A person's feedback on a generation.");
export type Feedback = z.infer<typeof FeedbackSchema>;

/** Whether feedback speaks about `stage`. */
export function isAbout(feedback: Pick<Feedback, 'stage'>, stage: QualityStage): boolean {
  return feedback.stage === stage || feedback.stage === 'both';
}

/** The generation that planned a generation's tokens: its source for a re-render, else itself. */
export function planGenerationId(record: { id: string; input: { source_generation_id?: string } }): string {
  return record.input.source_generation_id ?? record.id;
}

/**
 * Lua's cjson writes an empty array as `{}`, so annotations are stored without empty
 * arrays and given them back here: what the schemas above promise.
 */
export function restoreAnnotationArrays(record: { feedback?: unknown; quality?: unknown }): void {
  if (record.feedback !== undefined && !Array.isArray(record.feedback)) record.feedback = [];
  for (const entry of (record.feedback as Array<{ labels?: unknown }> | undefined) ?? []) {
    if (!Array.isArray(entry.labels)) entry.labels = [];
  }
}
