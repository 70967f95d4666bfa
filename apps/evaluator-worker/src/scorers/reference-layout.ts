/**
 * The planner's prompt alignment for the reference pack (its `reference-layout` scorer):
 * does the plan's preview grid hold every colour the prompt names, and a text panel
 * exactly when the prompt quotes text — and where did it put them. Read from the stored
 * tokens, whose meaning the reference codebook fixes; a pack with a learned codebook
 * names an alignment model among its scorers instead.
 */
import { extractQuotedSpans } from '@glm-image/inference';
import { coloursNamedIn, type PlanCell, readPlanCells } from '@glm-image/inference/reference-plan';
import type { LayoutCheck } from '@glm-image/shared/quality';
import type { TokenGrid } from '@glm-image/shared/tokens';

export interface LayoutScore {
  checks: LayoutCheck[];
  /** The fraction of checks passed. */
  alignment: number;
}

/** Coverage and bounding box (fractions of the grid) of the cells `matches` accepts. */
function placement(
  grid: TokenGrid,
  cells: PlanCell[],
  matches: (cell: PlanCell) => boolean,
): Pick<LayoutCheck, 'coverage' | 'box'> {
  const hits = cells.filter(matches);
  if (hits.length === 0) return { coverage: 0 };
  const rows = hits.map((c) => c.row);
  const cols = hits.map((c) => c.col);
  const [top, bottom] = [Math.min(...rows), Math.max(...rows) + 1];
  const [left, right] = [Math.min(...cols), Math.max(...cols) + 1];
  return {
    coverage: hits.length / cells.length,
    box: {
      x: left / grid.cols,
      y: top / grid.rows,
      w: (right - left) / grid.cols,
      h: (bottom - top) / grid.rows,
    },
  };
}

export function scoreReferenceLayout(prompt: string, preview: TokenGrid): LayoutScore {
  const cells = readPlanCells(preview);
  const checks: LayoutCheck[] = coloursNamedIn(prompt).map((colour) => {
    const where = placement(preview, cells, (cell) => cell.colour === colour);
    return { check: 'colour', subject: colour, expected: true, found: where.coverage > 0, ...where };
  });
  const panel = placement(preview, cells, (cell) => cell.isTextPanel);
  checks.push({
    check: 'text_panel',
    subject: 'text',
    expected: extractQuotedSpans(prompt).length > 0,
    found: panel.coverage > 0,
    ...panel,
  });
  const passed = checks.filter((c) => c.expected === c.found).length;
  return { checks, alignment: passed / checks.length };
}
