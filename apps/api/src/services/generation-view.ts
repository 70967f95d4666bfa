import type { GenerationRecord } from '@glm-image/shared/generation';
import type { GenerationView } from '../schemas/generation.ts';

/**
 * Turns a stored record into the object clients see: object-store keys become URLs
 * (public object-store URLs when the bucket is published, else the API's own streaming
 * routes) and internal fields (tenant, keys) stay behind.
 */

export interface PublicUrls {
  /** The public URL of an object, or null when the bucket is not published. */
  publicUrl(key: string): string | null;
}

export interface ViewOptions {
  /** Origin of the API as the client reached it, e.g. `https://api.example.com`. */
  baseUrl: string;
  objects: PublicUrls;
  queuePosition?: number | null;
}

export function generationPath(id: string): string {
  return `/v1/generations/${encodeURIComponent(id)}`;
}

export function toGenerationView(record: GenerationRecord, options: ViewOptions): GenerationView {
  const self = `${options.baseUrl}${generationPath(record.id)}`;
  const objectUrl = (key: string, apiPath: string) => options.objects.publicUrl(key) ?? `${self}${apiPath}`;
  const input = { ...record.input };
  const view: GenerationView = {
    id: record.id,
    status: record.status,
    created_at: record.created_at,
    input,
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

/** The origin the client used, so returned URLs work from where the client stands. */
export function baseUrlOf(request: { protocol: string; host: string }): string {
  return `${request.protocol}://${request.host}`;
}
