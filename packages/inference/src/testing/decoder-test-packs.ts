/**
 * Model packs, token layouts and text reading for the decoder's tests: the reference
 * pack built into a temporary folder, and variants of it.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenGrid } from '../decoder/render-request.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { encodeToken, PALETTE, Region } from '../reference-pack/semantic-codebook.ts';

export interface TestPacks {
  reference: ModelPack;
  /** The reference pack without its optional preview model. */
  noPreview: ModelPack;
  remove(): Promise<void>;
}

export async function buildTestPacks(): Promise<TestPacks> {
  const root = await mkdtemp(join(tmpdir(), 'glm-decoder-packs-'));
  try {
    const referenceDir = join(root, 'reference');
    await buildReferencePack(referenceDir);
    const reference = await loadModelPack(referenceDir);
    const noPreviewDir = join(root, 'no-preview');
    await cp(referenceDir, noPreviewDir, { recursive: true });
    const { preview: _preview, ...withoutPreview } = reference.manifest;
    await writeFile(join(noPreviewDir, 'model.json'), JSON.stringify(withoutPreview, null, 2));
    return {
      reference,
      noPreview: await loadModelPack(noPreviewDir),
      remove: () => rm(root, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

export const colourIndex = (name: string): number => PALETTE.findIndex((p) => p.name === name);

/** Where the hand-made layout puts its text panel, in main-grid cells (end exclusive). */
export interface PanelCells {
  rowStart: number;
  rowEnd: number;
  colStart: number;
  colEnd: number;
}

/**
 * A main grid as the planner would plan "left half red, right half blue, white text
 * panel across the lower middle": background on the left, a shape on the right.
 */
export function splitLayout(rows: number, cols: number, panel: PanelCells): TokenGrid {
  const tokens: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const inPanel = r >= panel.rowStart && r < panel.rowEnd && c >= panel.colStart && c < panel.colEnd;
      if (inPanel) tokens.push(encodeToken(Region.textPanel, colourIndex('white'), 0));
      else if (c < cols / 2) tokens.push(encodeToken(Region.background, colourIndex('red'), 100));
      else tokens.push(encodeToken(Region.shape, colourIndex('blue'), 50));
    }
  }
  return { rows, cols, tokens };
}

export { type PixelBox as CropBox, readTextLine } from '../testing/image-checks.ts';
