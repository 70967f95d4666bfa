import {
  FEEDBACK_STAGES,
  FeedbackLabelSchema,
  FeedbackSchema,
  MAX_RATING,
  MIN_RATING,
  QUALITY_STAGES,
  SUGGESTED_FEEDBACK_LABELS,
} from '@glm-image/shared/quality';
import { z } from 'zod';

/**
 * Request and response shapes of feedback and of the training export. The stored
 * feedback and the export's rows are shared contracts (@glm-image/shared/quality,
 * training-export); these are the HTTP edge's own.
 */

export const MAX_FEEDBACK_COMMENT_LENGTH = 2000;
export const MAX_FEEDBACK_LABELS = 16;

export const CreateFeedbackBody = z
  .strictObject({
    stage: z
      .enum(FEEDBACK_STAGES)
      .default('both')
      .describe(
        'What the feedback is about: `plan` (layout, content, the preview), `decode` (the rendered images: ' +
          'text legibility, hands, artifacts) or `both`. A re-render takes only `decode` (its plan is its ' +
          "source's); a plan-only generation only `plan`.",
      ),
    rating: z.int().min(MIN_RATING).max(MAX_RATING).optional().describe('1 (bad) to 5 (good).'),
    labels: z
      .array(FeedbackLabelSchema)
      .max(MAX_FEEDBACK_LABELS)
      .refine((labels) => new Set(labels).size === labels.length, 'must not repeat a label')
      .optional()
      .describe(`lower_snake_case, e.g. ${SUGGESTED_FEEDBACK_LABELS.join(', ')}.`),
    comment: z.string().min(1).max(MAX_FEEDBACK_COMMENT_LENGTH).optional(),
    preferred_output: z
      .int()
      .min(0)
      .max(63)
      .optional()
      .describe('For a generation of several images: the index of the image preferred over the others.'),
  })
  .describe('Feedback on a succeeded generation; at least one of rating, labels, comment, preferred_output.');
export type CreateFeedbackBody = z.infer<typeof CreateFeedbackBody>;

export { FeedbackSchema };

export const ExportQuery = z.object({
  stage: z
    .enum(QUALITY_STAGES)
    .describe('`plan`: planner rows; `decode`: decoder rows and preference pairs.'),
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Only generations scored or given feedback at or after this time (ignored with `cursor`).'),
  cursor: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .describe("A row's `cursor`: the export resumes right after that row."),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000).describe('Rows at most.'),
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional()
    .describe("Whose generations; default the key's own tenant."),
});
export type ExportQuery = z.infer<typeof ExportQuery>;
