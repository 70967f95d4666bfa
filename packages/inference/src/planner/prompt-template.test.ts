import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.ts';
import { REFERENCE_MANIFEST } from '../reference-pack/reference-manifest.ts';
import { mainGridSize, previewGridSize, validateImageSize } from '../sizes.ts';
import { buildPromptText, planLayout } from './prompt-template.ts';

const manifest = REFERENCE_MANIFEST;

describe('grid maths', () => {
  it.each([
    [1024, 1024, { rows: 32, cols: 32 }, { rows: 16, cols: 16 }],
    [2048, 2048, { rows: 64, cols: 64 }, { rows: 16, cols: 16 }],
    [512, 512, { rows: 16, cols: 16 }, { rows: 16, cols: 16 }],
    [768, 512, { rows: 16, cols: 24 }, { rows: 13, cols: 19 }],
    [512, 768, { rows: 24, cols: 16 }, { rows: 19, cols: 13 }],
    [1920, 1088, { rows: 34, cols: 60 }, { rows: 12, cols: 21 }],
  ])('%ix%i (width x height)', (width, height, main, preview) => {
    expect(mainGridSize(manifest, width, height)).toEqual(main);
    expect(previewGridSize(manifest, width, height)).toEqual(preview);
    expect(planLayout(manifest, width, height).totalTokens).toBe(
      main.rows * main.cols + preview.rows * preview.cols,
    );
  });

  it('1024x1024 needs exactly 1,280 planner tokens (256 preview + 1,024 main)', () => {
    expect(planLayout(manifest, 1024, 1024).totalTokens).toBe(1280);
  });
});

describe('validateImageSize', () => {
  const fieldOf = (w: number, h: number) => {
    try {
      validateImageSize(manifest, w, h);
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      return (error as InvalidInputError).field;
    }
  };
  it('accepts sizes inside the pack rules', () => {
    expect(fieldOf(1024, 1024)).toBeNull();
    expect(fieldOf(512, 2016)).toBeNull();
  });
  it('names the field at fault', () => {
    expect(fieldOf(1000, 1024)).toBe('width'); // not a multiple of 32
    expect(fieldOf(1024, 480)).toBe('height'); // below the minimum
    expect(fieldOf(1024, 2080)).toBe('height'); // above the maximum
    expect(fieldOf(2048, 512)).toBe('width'); // aspect ratio 4 is not below 4
    expect(fieldOf(512.5, 512)).toBe('width');
  });
});

describe('buildPromptText', () => {
  it('writes the main grid, then the preview grid, rows before cols', () => {
    expect(buildPromptText(manifest, 'a red circle', planLayout(manifest, 768, 512))).toBe(
      'a red circle<sop>16 24<eop><sop>13 19<eop><|begin_of_image|>',
    );
    expect(buildPromptText(manifest, 'x', planLayout(manifest, 1024, 1024))).toBe(
      'x<sop>32 32<eop><sop>16 16<eop><|begin_of_image|>',
    );
  });
});
