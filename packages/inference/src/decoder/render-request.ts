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
  /**
   * Reference images (image-to-image), at most 4; the pack must have `decoder.reference`.
   * Each is scaled to cover the output size (cropped from the centre) and VAE-encoded.
   */
  references?: ReferenceImageInput[];
}

export interface ReferenceImageInput {
  /** The image: PNG, JPEG or WebP bytes. */
  image: Uint8Array;
  /** Its semantic tokens as the planner read them (ImageTokenizer): a grid of this image's aspect. */
  tokens: TokenGrid;
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
   * and the time the step spent inside the denoiser (what a duty cycle is made of). The
   * first step's time includes the pass that filled the reference cache, when the
   * render has reference images, so the times add up to all of the render's denoiser time.
   */
  onStep?: (step: number, total: number, denoiserMs: number) => void;
}
