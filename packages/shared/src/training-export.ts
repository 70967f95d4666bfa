/**
 * The training export (`GET /v1/feedback/export`): one JSON object per line, each a
 * labelled example for one stage's fine-tuning. These schemas are the documented
 * contract (docs/training-export.md, and the JSON Schema beside it generated from them):
 *
 *   - `plan`: what the planner was asked and what it produced (prompt, reference images,
 *     sampling, seed, its semantic tokens, the preview) with the plan's scores and feedback;
 *   - `decode`: what the decoder was given (tokens, reference images, glyph text, seed,
 *     steps, guidance) and the images it made, with their scores and feedback;
 *   - `decode_preference`: two images of one plan, one preferred over the other, from a
 *     person choosing one of `n` images or rating two renders of the plan differently.
 *
 * Rows have stable ids: a generation annotated again is exported again, and the later
 * row supersedes the earlier one with the same id. Each row carries the cursor that
 * resumes the export right after it.
 */
import { z } from 'zod';
import { InvalidInputError } from './errors.ts';
import {
  FeedbackSchema,
  QUALITY_STAGES,
  type QualityStage,
  ScoresSchema,
  StageQualitySchema,
} from './quality.ts';

/** Version of the row shapes; bumped on any change a consumer must know about. */
export const TRAINING_EXPORT_VERSION = 1;

export const TRAINING_EXPORT_CONTENT_TYPE = 'application/x-ndjson';

const TokenGridRow = z
  .object({ rows: z.number().int(), cols: z.number().int(), tokens: z.array(z.number().int()) })
  .describe('A grid of codebook indices, row-major (tokens.json).');

export const ReferenceImageRowSchema = z
  .object({
    key: z.string().describe('Object-store key of the reference image, as stored with the generation.'),
    width: z.number().int(),
    height: z.number().int(),
    format: z.string(),
    sha256: z.string(),
    tokens: TokenGridRow.nullable().describe(
      'Its semantic tokens as the planner read them (tokens.json); null once the stored plan is gone.',
    ),
  })
  .describe('A reference image the generation was conditioned on (image-to-image).');
export type ReferenceImageRow = z.infer<typeof ReferenceImageRowSchema>;

const referenceImages = z
  .array(ReferenceImageRowSchema)
  .describe('The reference images both stages were conditioned on, in order; [] for text-to-image.');

const common = {
  id: z.string().describe('Stable row id; a later row with the same id supersedes an earlier one.'),
  cursor: z.string().describe('Pass as `cursor` to resume the export right after this row.'),
  tenant: z.string(),
  annotated_at: z
    .string()
    .describe('When the generation was last scored or given feedback about this stage.'),
};

export const PlanRowSchema = z
  .object({
    kind: z.literal('plan'),
    ...common,
    generation_id: z.string(),
    created_at: z.string(),
    prompt: z.string(),
    reference_images: referenceImages,
    width: z.number().int(),
    height: z.number().int(),
    seed: z.number().int(),
    temperature: z.number(),
    top_p: z.number(),
    tokens: z
      .object({ preview: TokenGridRow, main: TokenGridRow })
      .nullable()
      .describe('The semantic tokens the planner produced; null once the stored object is gone.'),
    preview: z
      .object({ key: z.string(), width: z.number().int(), height: z.number().int() })
      .nullable()
      .describe('Object-store key of the layout preview image; null when the pack renders none.'),
    scores: ScoresSchema.describe('The plan scores (`quality.plan.scores`), {} before scoring.'),
    quality: StageQualitySchema.nullable(),
    feedback: z.array(FeedbackSchema).describe('Feedback about the plan (`stage` plan or both).'),
  })
  .describe('A planner example.');
export type PlanRow = z.infer<typeof PlanRowSchema>;

export const DecodeImageSchema = z.object({
  index: z.number().int().nonnegative(),
  key: z.string().describe('Object-store key of the image.'),
  seed: z.number().int().describe("The decoder's noise seed for this image (the generation's seed + index)."),
  width: z.number().int(),
  height: z.number().int(),
  format: z.string(),
  sha256: z.string(),
  scores: ScoresSchema.describe("This image's scores, {} before scoring."),
});

export const DecodeRowSchema = z
  .object({
    kind: z.literal('decode'),
    ...common,
    generation_id: z.string(),
    plan_generation_id: z
      .string()
      .describe('The generation whose plan was decoded: itself, or the source of a re-render.'),
    created_at: z.string(),
    tokens: TokenGridRow.nullable().describe('The main grid the decoder was given; null once it is gone.'),
    reference_images: referenceImages,
    glyph_text: z
      .array(z.string())
      .describe('The quoted spans of the prompt: the only text the decoder sees.'),
    width: z.number().int(),
    height: z.number().int(),
    steps: z.number().int(),
    guidance_scale: z.number(),
    images: z.array(DecodeImageSchema),
    scores: ScoresSchema.describe('The decode scores (`quality.decode.scores`), {} before scoring.'),
    quality: StageQualitySchema.nullable(),
    feedback: z.array(FeedbackSchema).describe('Feedback about the images (`stage` decode or both).'),
  })
  .describe('A decoder example.');
export type DecodeRow = z.infer<typeof DecodeRowSchema>;

export const PreferenceImageSchema = z.object({
  generation_id: z.string(),
  index: z.number().int().nonnegative(),
  key: z.string(),
  seed: z.number().int(),
  steps: z.number().int(),
  guidance_scale: z.number(),
  width: z.number().int(),
  height: z.number().int(),
  rating: z.number().int().optional().describe('The rating the generation got, for pairs from ratings.'),
});
export type PreferenceImage = z.infer<typeof PreferenceImageSchema>;

export const DecodePreferenceRowSchema = z
  .object({
    kind: z.literal('decode_preference'),
    ...common,
    plan_generation_id: z.string(),
    basis: z
      .enum(['chosen_output', 'ratings'])
      .describe(
        "`chosen_output`: a person picked one of a generation's images; `ratings`: two renders of one plan were rated differently.",
      ),
    tokens: TokenGridRow.nullable().describe('The main grid both images were decoded from.'),
    reference_images: referenceImages,
    glyph_text: z.array(z.string()),
    chosen: PreferenceImageSchema,
    rejected: PreferenceImageSchema,
    feedback_ids: z.array(z.string()).describe('The feedback the preference comes from.'),
  })
  .describe('Two images of one plan, one preferred over the other.');
export type DecodePreferenceRow = z.infer<typeof DecodePreferenceRowSchema>;

export const TrainingRowSchema = z
  .discriminatedUnion('kind', [PlanRowSchema, DecodeRowSchema, DecodePreferenceRowSchema])
  .describe(`One line of the training export (version ${TRAINING_EXPORT_VERSION}).`);
export type TrainingRow = z.infer<typeof TrainingRowSchema>;

/** Which rows each `stage` of the export yields. */
export const ROW_KINDS_OF_STAGE: Record<QualityStage, readonly TrainingRow['kind'][]> = {
  plan: ['plan'],
  decode: ['decode', 'decode_preference'],
};

/**
 * A position in one tenant's export of one stage: the generation at `score` (µs of its
 * last annotation) and `id`, of whose rows `rows` were given already.
 */
export interface ExportCursor {
  stage: QualityStage;
  tenant: string;
  score: string;
  id: string;
  rows: number;
}

export function encodeExportCursor(cursor: ExportCursor): string {
  const { stage, tenant, score, id, rows } = cursor;
  return Buffer.from(JSON.stringify([TRAINING_EXPORT_VERSION, stage, tenant, score, id, rows])).toString(
    'base64url',
  );
}

/** The cursor, checked to belong to this export (stage and tenant); InvalidInputError otherwise. */
export function decodeExportCursor(
  text: string,
  expected: { stage: QualityStage; tenant: string },
): ExportCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = null;
  }
  const parsed = z
    .tuple([
      z.literal(TRAINING_EXPORT_VERSION),
      z.enum(QUALITY_STAGES),
      z.string(),
      z.string().regex(/^\d+$/),
      z.string().min(1),
      z.number().int().nonnegative(),
    ])
    .safeParse(value);
  if (!parsed.success) throw new InvalidInputError('cursor', 'not a cursor this export returned');
  const [, stage, tenant, score, id, rows] = parsed.data;
  if (stage !== expected.stage || tenant !== expected.tenant) {
    throw new InvalidInputError('cursor', `belongs to the ${stage} export of tenant ${tenant}`);
  }
  return { stage, tenant, score, id, rows };
}
