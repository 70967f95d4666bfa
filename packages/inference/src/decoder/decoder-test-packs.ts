/**
 * Model packs, token layouts and text reading for the decoder's tests: the reference
 * pack built into a temporary folder, and variants of it.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { encodeToken, PALETTE, Region } from '../reference-pack/semantic-codebook.ts';
import type { TokenGrid } from './render-request.ts';

const runFile = promisify(execFile);

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

export interface CropBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Ink height, in pixels, that tesseract reads the reference font at most reliably. */
const OCR_INK_HEIGHT = 22;

/**
 * Reads one line of dark text in `box` of `png` with tesseract (`--psm 7`). Only
 * near-black pixels count as ink; everything else, coloured surroundings included,
 * becomes paper. The ink is then scaled to print size and softened: tesseract misreads
 * the reference font's large square pixels (O as U, A as H, N as HM).
 */
export async function readTextLine(png: Buffer, box: CropBox, scratchDir: string): Promise<string> {
  const { data, info } = await sharp(png).extract(box).raw().toBuffer({ resolveWithObject: true });
  const page = Buffer.alloc(info.width * info.height);
  let [left, top, right, bottom] = [info.width, info.height, -1, -1];
  for (let p = 0; p < page.length; p += 1) {
    const i = p * info.channels;
    const ink = Math.max(data[i] as number, data[i + 1] as number, data[i + 2] as number) < 100;
    page[p] = ink ? 0 : 255;
    if (!ink) continue;
    const [x, y] = [p % info.width, Math.floor(p / info.width)];
    [left, top, right, bottom] = [
      Math.min(left, x),
      Math.min(top, y),
      Math.max(right, x),
      Math.max(bottom, y),
    ];
  }
  if (right < 0) return '';
  const [inkWidth, inkHeight] = [right - left + 1, bottom - top + 1];
  const file = join(scratchDir, `line-${box.left}-${box.top}-${box.width}-${box.height}.png`);
  await sharp(page, { raw: { width: info.width, height: info.height, channels: 1 } })
    .extract({ left, top, width: inkWidth, height: inkHeight })
    .resize({ width: Math.max(1, Math.round((inkWidth * OCR_INK_HEIGHT) / inkHeight)) })
    .blur(1)
    .extend({ top: 20, bottom: 20, left: 20, right: 20, background: 'white' })
    .png()
    .toFile(file);
  const { stdout } = await runFile('tesseract', [file, 'stdout', '--psm', '7'], {
    env: { ...process.env, OMP_THREAD_LIMIT: '1' },
  });
  return stdout.trim();
}
