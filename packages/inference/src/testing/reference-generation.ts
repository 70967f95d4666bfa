/**
 * End-to-end generation with the reference model pack for tests: the pack built into
 * a temporary folder, the real planner and decoder, and where the plan put things.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decoder } from '../decoder/decoder.ts';
import { loadModelPack } from '../model-pack.ts';
import { Planner, type TokenGrid } from '../planner/planner.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { decodeToken, PALETTE } from '../reference-pack/semantic-codebook.ts';
import type { PixelBox } from './image-checks.ts';

export interface Generated {
  prompt: string;
  width: number;
  height: number;
  /** The encoded PNG. */
  image: Buffer;
  /** The planner's main grid. */
  main: TokenGrid;
}

export interface ReferenceGeneration {
  /** Plans (seed = index) and renders each prompt, one at a time. */
  generate(prompts: readonly string[], size: { width: number; height: number }): Promise<Generated[]>;
  close(): Promise<void>;
}

/** Decoder steps: the reference denoiser lands on its target at any step count. */
const STEPS = 2;

export async function startReferenceGeneration(): Promise<ReferenceGeneration> {
  const dir = await mkdtemp(join(tmpdir(), 'glm-reference-pack-'));
  try {
    await buildReferencePack(dir);
    const pack = await loadModelPack(dir);
    const [planner, decoder] = await Promise.all([Planner.load(pack), Decoder.load(pack)]);
    return {
      async generate(prompts, { width, height }) {
        const plans = await planner.planBatch(
          prompts.map((prompt, seed) => ({ prompt, width, height, seed })),
        );
        const out: Generated[] = [];
        for (const [seed, plan] of plans.entries()) {
          const prompt = prompts[seed]!;
          const { image } = await decoder.render({
            prompt,
            main: plan.main,
            width,
            height,
            seed,
            steps: STEPS,
          });
          out.push({ prompt, width, height, image, main: plan.main });
        }
        return out;
      },
      async close() {
        await Promise.allSettled([planner.close(), decoder.close()]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A main-grid cell as the codebook reads it: region id and palette colour name. */
export interface CellMeaning {
  region: number;
  colour: string;
}

export function cellMeaning(main: TokenGrid, row: number, col: number): CellMeaning {
  const { region, colour } = decodeToken(main.tokens[row * main.cols + col] ?? 0);
  return { region, colour: PALETTE[colour]?.name ?? 'unknown' };
}

/** Pixel bounding box of the main-grid cells that `matches` accepts, or undefined if none. */
export function cellsBox(
  generated: Generated,
  matches: (cell: CellMeaning) => boolean,
): PixelBox | undefined {
  const { main, width, height } = generated;
  const [cellW, cellH] = [width / main.cols, height / main.rows];
  let [top, left, bottom, right] = [main.rows, main.cols, -1, -1];
  for (let r = 0; r < main.rows; r += 1) {
    for (let c = 0; c < main.cols; c += 1) {
      if (!matches(cellMeaning(main, r, c))) continue;
      [top, left, bottom, right] = [
        Math.min(top, r),
        Math.min(left, c),
        Math.max(bottom, r),
        Math.max(right, c),
      ];
    }
  }
  if (bottom < 0) return undefined;
  return {
    left: left * cellW,
    top: top * cellH,
    width: (right - left + 1) * cellW,
    height: (bottom - top + 1) * cellH,
  };
}
