/**
 * The planner's output as every process sees it: a token grid, and the stored plan
 * (`tokens.json` beside a generation's images) that re-renders decode again. The
 * planner writes it, the decode job carries its main grid, the API reads it back; all
 * through these schemas.
 */
import { z } from 'zod';

/** A grid of codebook indices (0..codebookSize-1, i.e. token id - first image token id), row-major. */
export const tokenGridSchema = z
  .object({
    rows: z.number().int().positive(),
    cols: z.number().int().positive(),
    tokens: z.array(z.number().int().nonnegative()),
  })
  .refine((grid) => grid.tokens.length === grid.rows * grid.cols, {
    error: 'tokens must hold rows × cols entries',
  });
export type TokenGrid = z.infer<typeof tokenGridSchema>;

/**
 * `tokens.json`: the layout preview grid and the main grid of one plan, and the tokens of
 * the reference images it followed (image-to-image), which a re-render decodes with again.
 */
export const storedPlanSchema = z.object({
  preview: tokenGridSchema,
  main: tokenGridSchema,
  references: z.array(tokenGridSchema).max(4).optional(),
});
export type StoredPlan = z.infer<typeof storedPlanSchema>;

export function encodeStoredPlan(plan: StoredPlan): Buffer {
  const references = plan.references?.length ? { references: plan.references } : {};
  return Buffer.from(JSON.stringify({ preview: plan.preview, main: plan.main, ...references }));
}

/** The stored plan, or null when the bytes are not one. */
export function parseStoredPlan(bytes: Buffer): StoredPlan | null {
  try {
    const parsed = storedPlanSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
