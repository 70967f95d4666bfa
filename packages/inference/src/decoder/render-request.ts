/** What the decoder is asked to render, and what it gives back. */

import type { OutputFormat } from '@glm-image/shared/formats';
import type { TokenGrid } from '../planner/token-grid.ts';

export type { TokenGrid };

export type ImageFormat = OutputFormat;

export interface RenderRequest {
  /** The glyph source: only its quoted spans reach the decoder. */
  prompt: string;
  /** The planner's main grid: (height / mainPatch) x (width / mainPatch) codebook indices. */
  main: TokenGrid;
  width: number;
  height: number;
  /** Drives the initial noise; the same seed gives a byte-identical image. */
  seed: number;
  /** Denoising steps; default manifest.decoder.defaultSteps. */
  steps?: number;
  /**
   * Classifier-free guidance scale; default manifest.decoder.defaultGuidanceScale.
   * 0 and 1 both mean "guidance off": only the conditional branch runs (half the work).
   */
  guidanceScale?: number;
  /** Output encoding; default 'png'. */
  format?: ImageFormat;
}

export interface RenderResult {
  image: Buffer;
  width: number;
  height: number;
  format: ImageFormat;
  contentType: string;
  steps: number;
  /** From the moment the model thread began this render (not while it waited behind others) to the encoded image. */
  durationMs: number;
}

export interface RenderOptions {
  /** Aborting stops decoding between denoiser steps; render rejects with CanceledError. */
  signal?: AbortSignal;
  /** Called when the model thread begins this render, after the renders asked for before it. */
  onStart?: () => void;
  /**
   * Called after each finished denoiser step with (step, total), step counting from 1,
   * and the time the step spent inside the denoiser (what a duty cycle is made of).
   */
  onStep?: (step: number, total: number, denoiserMs: number) => void;
}
