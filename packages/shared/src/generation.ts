/**
 * The generation record: one per accepted request, kept in Redis, the single source
 * of truth every process reads. Field names are snake_case because the API returns
 * them as they are (see the HTTP API document).
 */
import type { OutputFormat } from './formats.ts';
import type { Feedback, GenerationQuality } from './quality.ts';

export type { OutputFormat };

export const GENERATION_STATUSES = [
  'queued',
  'planning',
  'decoding',
  'succeeded',
  'failed',
  'canceled',
] as const;
export type GenerationStatus = (typeof GENERATION_STATUSES)[number];

/** How long a generation (record, events, objects) is kept after creation unless RETENTION_SECONDS says otherwise: 7 days. */
export const DEFAULT_RETENTION_SECONDS = 604_800;

export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['succeeded', 'failed', 'canceled'];

export function isTerminal(status: GenerationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Status only ever moves forward: a transition to an earlier or equal rank is refused. */
export const STATUS_RANK: Record<GenerationStatus, number> = {
  queued: 0,
  planning: 1,
  decoding: 2,
  succeeded: 3,
  failed: 3,
  canceled: 3,
};

export const WEBHOOK_EVENTS = [
  'generation.planned',
  'generation.succeeded',
  'generation.failed',
  'generation.canceled',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A stored image: an output, or a reference image the request brought. */
export interface StoredImage {
  /** Object-store key; the API turns it into a URL. */
  key: string;
  width: number;
  height: number;
  format: OutputFormat;
  bytes: number;
  sha256: string;
}

/** The normalized request: every default filled in, the seed chosen. */
export interface GenerationInput {
  prompt: string;
  width: number;
  height: number;
  seed: number;
  steps: number;
  guidance_scale: number;
  temperature: number;
  top_p: number;
  n: number;
  output_format: OutputFormat;
  webhook?: { url: string; events: WebhookEvent[] };
  /** Set on re-renders: the generation whose stored semantic tokens are reused. */
  source_generation_id?: string;
  /** Image-to-image: the reference images, stored with the generation (up to 4; absent when none). */
  reference_images?: StoredImage[];
  /** false: plan only, the generation ends after the planner (render it later). Absent means true. */
  decode?: boolean;
}

/** The decoder's noise seed of image `index` of a generation: each image its own, image 0 the request's. */
export function outputSeed(seed: number, index: number): number {
  return (seed + index) % 4_294_967_296;
}

export const PROGRESS_STAGES = ['queued', 'planning', 'decoding', 'uploading'] as const;
export type ProgressStage = (typeof PROGRESS_STAGES)[number];

export interface GenerationProgress {
  stage: ProgressStage;
  step?: number;
  total?: number;
}

export type GenerationOutput = StoredImage;

export interface GenerationTimings {
  queued_ms?: number;
  plan_ms?: number;
  decode_ms?: number;
  upload_ms?: number;
  total_ms?: number;
}

export interface GenerationError {
  code: string;
  message: string;
}

export interface GenerationRecord {
  id: string;
  tenant: string;
  status: GenerationStatus;
  created_at: string;
  started_at?: string;
  completed_at?: string;
  input: GenerationInput;
  progress: GenerationProgress;
  /** Object-store key of the layout preview, once the planner has run. */
  preview?: { key: string; width: number; height: number };
  outputs: GenerationOutput[];
  timings: GenerationTimings;
  error?: GenerationError;
  metadata?: Record<string, unknown>;
  /** Set when a client asked to cancel; workers check it between model steps. */
  cancel_requested?: boolean;
  /** BullMQ priority of the tenant at submit time (1 runs first), so a job queued again keeps it. */
  priority?: number;
  /** Per-stage scores the evaluator writes after the generation succeeded (quality.ts). */
  quality?: GenerationQuality;
  /** People's feedback, oldest first (quality.ts). */
  feedback?: Feedback[];
}
