/**
 * The generation object clients see, built from a stored record: object-store keys
 * become URLs (public object-store URLs when the bucket is published, else the API's own
 * streaming routes) and internal fields (tenant, keys) stay behind. The API answers with
 * it and webhooks carry it, so both show the same thing.
 */
import type {
  GenerationError,
  GenerationInput,
  GenerationProgress,
  GenerationRecord,
  GenerationStatus,
  GenerationTimings,
  OutputFormat,
} from './generation.ts';

export interface PublicGeneration {
  id: string;
  status: GenerationStatus;
  created_at: string;
  started_at?: string;
  completed_at?: string;
  input: GenerationInput;
  progress: GenerationProgress;
  queue_position?: number;
  cancel_requested?: boolean;
  preview?: { url: string; width: number; height: number };
  outputs: Array<{
    url: string;
    width: number;
    height: number;
    format: OutputFormat;
    bytes: number;
    sha256: string;
  }>;
  timings: GenerationTimings;
  error?: GenerationError;
  metadata?: Record<string, unknown>;
  urls: { self: string; events: string; cancel: string };
}

export interface PublicUrls {
  /** The public URL of an object, or null when the bucket is not published. */
  publicUrl(key: string): string | null;
}

export interface ViewOptions {
  /** Origin of the API as clients reach it, e.g. `https://api.example.com`. */
  baseUrl: string;
  objects: PublicUrls;
  queuePosition?: number | null;
}

export function generationPath(id: string): string {
  return `/v1/generations/${encodeURIComponent(id)}`;
}

export function toPublicGeneration(record: GenerationRecord, options: ViewOptions): PublicGeneration {
  const self = `${options.baseUrl.replace(/\/+$/, '')}${generationPath(record.id)}`;
  const objectUrl = (key: string, apiPath: string) => options.objects.publicUrl(key) ?? `${self}${apiPath}`;
  const view: PublicGeneration = {
    id: record.id,
    status: record.status,
    created_at: record.created_at,
    input: { ...record.input },
    progress: { ...record.progress },
    outputs: record.outputs.map((output, index) => ({
      url: objectUrl(output.key, `/outputs/${index}`),
      width: output.width,
      height: output.height,
      format: output.format,
      bytes: output.bytes,
      sha256: output.sha256,
    })),
    timings: { ...record.timings },
    urls: { self, events: `${self}/events`, cancel: `${self}/cancel` },
  };
  if (record.started_at) view.started_at = record.started_at;
  if (record.completed_at) view.completed_at = record.completed_at;
  if (record.preview) {
    view.preview = {
      url: objectUrl(record.preview.key, '/preview'),
      width: record.preview.width,
      height: record.preview.height,
    };
  }
  if (record.error) view.error = { code: record.error.code, message: record.error.message };
  if (record.metadata) view.metadata = record.metadata;
  if (record.cancel_requested && record.status !== 'canceled') view.cancel_requested = true;
  if (record.status === 'queued' && typeof options.queuePosition === 'number') {
    view.queue_position = options.queuePosition;
  }
  return view;
}
