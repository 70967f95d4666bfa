/**
 * The `glm-image` command as a user runs it: a real process against the whole system,
 * checked by its exit code, its output files (image and preview) and its stdout.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlmImageClient } from '../../packages/client/src/index.ts';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { API_KEY, type E2eSystem, startSystem } from './harness.ts';

const BIN = fileURLToPath(new URL('../../packages/client/src/cli/bin.mjs', import.meta.url));

let system: E2eSystem;
let dir: string;

beforeAll(async () => {
  system = await startSystem();
  dir = await mkdtemp(join(tmpdir(), 'glm-cli-'));
}, 120_000);
afterAll(async () => {
  await system?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command; `onStderr` sees its progress lines as they come. */
function glmImage(args: string[], options: { apiUrl?: string; onStderr?: (text: string) => void } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: {
      ...process.env,
      GLM_IMAGE_API_URL: options.apiUrl ?? system.stack.apiUrl,
      GLM_IMAGE_API_KEY: API_KEY,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    options.onStderr?.(stderr);
  });
  return new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('glm-image', () => {
  it('generates an image and its preview, with progress per stage, and exits 0', async () => {
    const out = join(dir, 'circle.png');
    const run = await glmImage([
      'generate',
      'a red circle on a blue background with a sign that says "HI"',
      '--out',
      out,
      '--size',
      '512x512',
      '--steps',
      '6',
      '--seed',
      '11',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(out);
    const image = await readFile(out);
    expect(await sharp(image).metadata()).toMatchObject({ format: 'png', width: 512, height: 512 });
    const preview = await readFile(join(dir, 'circle.preview.png'));
    expect((await sharp(preview).metadata()).format).toBe('png');

    // Plain lines on a pipe: one per stage, the preview saved before the end.
    const lines = run.stderr.split('\n');
    const at = (prefix: string) => lines.findIndex((line) => line.startsWith(prefix));
    expect(at('submitted ')).toBe(0);
    expect(at('planning')).toBeGreaterThan(0);
    expect(at('decoding')).toBeGreaterThan(at('planning'));
    expect(at('preview ')).toBeGreaterThan(at('planning'));
    expect(at('succeeded')).toBe(lines.length - 2);
  });

  it('prints one JSON document with --json, names several images, and takes the format from --out', async () => {
    const out = join(dir, 'squares.webp');
    const run = await glmImage([
      'generate',
      'a green square',
      '--out',
      out,
      '--n',
      '2',
      '--steps',
      '3',
      '--size',
      '512x512',
      '--json',
      '--no-preview',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.generation.status).toBe('succeeded');
    expect(result.generation.input).toMatchObject({ n: 2, output_format: 'webp' });
    expect(result.files).toEqual({
      outputs: [join(dir, 'squares-1.webp'), join(dir, 'squares-2.webp')],
      preview: null,
    });
    for (const [index, path] of result.files.outputs.entries()) {
      expect(sha256(await readFile(path))).toBe(result.generation.outputs[index].sha256);
    }
    expect(existsSync(join(dir, 'squares.preview.png'))).toBe(false);

    const status = await glmImage(['status', result.generation.id, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).id).toBe(result.generation.id);
    const list = await glmImage(['list', '--limit', '50', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).items.map((g: { id: string }) => g.id)).toContain(result.generation.id);

    const rendered = await glmImage([
      'render',
      result.generation.id,
      '--seed',
      '4',
      '--n',
      '1',
      '--out',
      join(dir, 'again.jpg'),
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect((await sharp(await readFile(join(dir, 'again.jpg'))).metadata()).format).toBe('jpeg');
  });

  it('saves the preview while the generation runs, and exits 3 when it is canceled', async () => {
    const client = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: API_KEY });
    let canceling: Promise<unknown> | null = null;
    let previewWhileRunning: Buffer | null = null;
    const previewFile = join(dir, 'never.preview.png');
    const run = await glmImage(
      ['generate', 'a grey circle', '--size', '2048x2048', '--steps', '80', '--out', join(dir, 'never.png')],
      {
        // Cancel only once the preview is on disk: the generation had not ended when it was written.
        onStderr: (text) => {
          const id = /^submitted (\S+)$/m.exec(text)?.[1];
          if (id && text.includes(`preview    ${previewFile}`) && !canceling) {
            canceling = readFile(previewFile).then((bytes) => {
              previewWhileRunning = bytes;
              return client.cancel(id);
            });
          }
        },
      },
    );
    await canceling;
    expect(previewWhileRunning).not.toBeNull();
    expect((await sharp(previewWhileRunning!).metadata()).format).toBe('png');
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toBe('');
    expect(existsSync(join(dir, 'never.png'))).toBe(false);
    const id = /^submitted (\S+)$/m.exec(run.stderr)?.[1];
    expect((await glmImage(['status', id!])).code).toBe(3);
  }, 240_000);

  it('exits 2 for bad input, whether the command line or the API refuses it', async () => {
    const usage = await glmImage(['generate', 'a cat', '--size', 'big']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--size');
    const refused = await glmImage(['generate', 'a cat', '--size', '500x500', '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'invalid_input' });
    expect((await glmImage(['status', 'no-such-generation'])).code).toBe(2);
  });

  it('exits 4 when the API cannot be reached', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const run = await glmImage(['status', 'anything', '--json'], { apiUrl: nobody });
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout).error.code).toBe('connection_failed');
  });

  it('documents its exit codes in --help', async () => {
    const help = await glmImage(['--help']);
    expect(help.code).toBe(0);
    for (const code of ['0', '1', '2', '3', '4'])
      expect(help.stdout).toMatch(new RegExp(`^ {2}${code} `, 'm'));
  });
});
