import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { GenerationUpdate } from '../../event-stream.ts';
import { ReferenceImageError, referenceImageFromFile } from '../../reference-images.ts';
import { type Generation, isTerminal, type OutputFormat } from '../../types.ts';
import { exitCodeOfStatus, UsageError } from '../exit-codes.ts';
import { type CommandContext, printJson } from './context.ts';

/**
 * generate and render: submit, follow the generation to its end with progress, save the
 * layout preview as soon as it exists and the images at the end. A plan-only generation
 * ends with its preview and no images: its id is what comes next (`approve <id>`).
 */

const EXTENSIONS: Record<OutputFormat, string> = { png: 'png', webp: 'webp', jpeg: 'jpg' };

/** `a.png` for one image; `a-1.png`, `a-2.png`, … for several. Without --out, named after the id. */
export function outputPaths(out: string | null, id: string, format: OutputFormat, count: number): string[] {
  const base = out ?? `${id}.${EXTENSIONS[format]}`;
  if (count === 1) return [base];
  const match = /^(.*?)(\.[^./\\]+)?$/.exec(base);
  const stem = match?.[1] ?? base;
  const extension = match?.[2] ?? '';
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${extension}`);
}

export function previewPath(out: string | null, id: string): string {
  const stem = out ? out.replace(/\.[^./\\]+$/, '') : id;
  return `${stem}.preview.png`;
}

/** The --reference files as `data:` URLs; one missing or not an image is a usage error. */
export async function readReferences(paths: readonly string[]): Promise<string[]> {
  try {
    return await Promise.all(paths.map((path) => referenceImageFromFile(path)));
  } catch (error) {
    if (error instanceof ReferenceImageError) throw new UsageError(`--reference ${error.message}`);
    throw error;
  }
}

async function save(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

export interface FollowRequest {
  submitted: Generation;
  out: string | null;
  /** Where the preview goes; false: not saved. */
  preview: string | false;
  wait: boolean;
}

export async function followAndSave(context: CommandContext, request: FollowRequest): Promise<number> {
  const { client, progress, signal } = context;
  const { submitted } = request;
  const { id } = submitted;
  progress.note(`submitted ${id}`);
  if (!request.wait) {
    if (context.json) printJson(context, { generation: submitted, files: { outputs: [], preview: null } });
    else context.stdout.write(`${id}\n`);
    return exitCodeOfStatus(submitted.status);
  }

  let previewSaved: Promise<string | null> | null = null;
  const savePreview = () => {
    if (request.preview === false || previewSaved) return;
    const path = request.preview;
    previewSaved = client
      .downloadPreview(id, { signal })
      .then(async ({ bytes }) => {
        await save(path, bytes);
        progress.note(`preview    ${path}`);
        return path;
      })
      .catch((error: Error) => {
        progress.note(`preview not saved: ${error.message}`);
        return null;
      });
  };
  const onUpdate = (update: GenerationUpdate) => {
    // The end is shown once, below, after the preview's line: a download still in
    // flight must not print its line under "succeeded".
    if (!isTerminal(update.generation.status)) progress.update(update.generation);
    if (update.generation.preview) savePreview();
  };
  progress.update(submitted);
  const final = await client.wait(id, {
    signal,
    onUpdate,
    onFallback: (reason) => progress.note(`events unavailable (${reason.message}); polling`),
  });
  if (final.preview) savePreview();
  const preview = previewSaved ? await previewSaved : null;
  progress.update(final);

  const outputs: string[] = [];
  if (final.status === 'succeeded') {
    const paths = outputPaths(request.out, id, final.input.output_format, final.outputs.length);
    for (const [index, output] of final.outputs.entries()) {
      const path = paths[index]!;
      const { bytes } = await client.download(output.url, { signal });
      await save(path, bytes);
      outputs.push(path);
    }
  }
  progress.closeLine();
  if (final.error) progress.note(`${final.status}: ${final.error.code}: ${final.error.message}`);
  if (context.json) {
    printJson(context, { generation: final, files: { outputs, preview } });
  } else if (final.status === 'succeeded' && final.input.decode === false) {
    context.stdout.write(`${id}\n`);
    progress.note(`plan only; to decode it: glm-image approve ${id}`);
  } else {
    for (const path of outputs) context.stdout.write(`${path}\n`);
  }
  return exitCodeOfStatus(final.status);
}
