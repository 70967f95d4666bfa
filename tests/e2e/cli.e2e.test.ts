/**
 * The `glm-image` command as a user runs it: a real process against the whole system,
 * checked by its exit code, its output files (image and preview, exported rows) and its
 * stdout: generating, editing a picture given with --reference, planning only and
 * approving the plan.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlmImageClient } from '../../packages/client/src/index.ts';
import {
  colourRegion,
  discImage,
  dominantChannel,
  meanColour,
} from '../../packages/inference/src/testing/image-checks.ts';
import { TrainingRowSchema } from '../../packages/shared/src/training-export.ts';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { API_KEY, type E2eSystem, startSystem } from './harness.ts';

const BIN = fileURLToPath(new URL('../../packages/client/src/cli/bin.mjs', import.meta.url));
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';

let system: E2eSystem;
let dir: string;

beforeAll(async () => {
  const hash = (key: string) => createHash('sha256').update(key).digest('hex');
  system = await startSystem({
    env: {
      API_KEYS: JSON.stringify([
        { sha256: hash(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        { sha256: hash(ADMIN_KEY), tenant: 'e2e', admin: true, rate_per_minute: 100_000 },
      ]),
    },
  });
  dir = await mkdtemp(join(tmpdir(), 'glm-cli-'));
});
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
function glmImage(
  args: string[],
  options: { apiUrl?: string; apiKey?: string; onStderr?: (text: string) => void } = {},
) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: {
      ...process.env,
      GLM_IMAGE_API_URL: options.apiUrl ?? system.stack.apiUrl,
      GLM_IMAGE_API_KEY: options.apiKey ?? API_KEY,
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
  });

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

  it('gives feedback on a generation, and exits 2 when the API refuses it', async () => {
    const client = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: API_KEY });
    const done = await client.wait(
      (await client.submit({ prompt: 'a blue square with "GO"', width: 512, height: 512, steps: 3 })).id,
    );
    expect(done.status).toBe('succeeded');
    const rated = await glmImage([
      'feedback',
      done.id,
      '--rating',
      '2',
      '--stage',
      'decode',
      '--label',
      'text_wrong',
      '--label',
      'artifacts',
      '--comment',
      'the O is open',
      '--json',
    ]);
    expect(rated.code, rated.stderr).toBe(0);
    const given = JSON.parse(rated.stdout);
    expect(given).toMatchObject({
      stage: 'decode',
      rating: 2,
      labels: ['text_wrong', 'artifacts'],
      comment: 'the O is open',
    });
    const plain = await glmImage(['feedback', done.id, '--rating', '5']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^fb_\S+ {2}stage both {2}rating 5\n$/);
    expect((await client.get(done.id)).feedback?.map((entry) => [entry.stage, entry.rating])).toEqual([
      ['decode', 2],
      ['both', 5],
    ]);

    const refused = await glmImage(['feedback', done.id, '--rating', '9', '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'invalid_input' });
    const empty = await glmImage(['feedback', done.id]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--rating');
    expect((await glmImage(['feedback', 'no-such-generation', '--rating', '3'])).code).toBe(2);
  });

  it('exports training rows as JSON Lines to stdout or a file (admin keys), and exits 2 for other keys', async () => {
    const exported = await glmImage(['export', '--stage', 'decode'], { apiKey: ADMIN_KEY });
    expect(exported.code, exported.stderr).toBe(0);
    const rows = exported.stdout
      .trimEnd()
      .split('\n')
      .map((line) => TrainingRowSchema.parse(JSON.parse(line)));
    expect(rows.map((row) => row.kind)).toEqual(['decode']);
    const [row] = rows;
    if (row?.kind !== 'decode') throw new Error('not a decode row');
    expect(row.glyph_text).toEqual(['GO']);
    expect(row.feedback.map((entry) => entry.rating)).toEqual([2, 5]);
    expect(exported.stderr).toContain(`1 row(s); continue with --cursor ${row.cursor}`);

    // Nothing after the last row's cursor yet.
    const caughtUp = await glmImage(['export', '--stage', 'decode', '--cursor', row.cursor], {
      apiKey: ADMIN_KEY,
    });
    expect(caughtUp.code, caughtUp.stderr).toBe(0);
    expect(caughtUp.stdout).toBe('');

    const out = join(dir, 'export', 'plan.jsonl');
    const toFile = await glmImage(
      ['export', '--stage', 'plan', '--since', '2000-01-01', '--out', out, '--json'],
      {
        apiKey: ADMIN_KEY,
      },
    );
    expect(toFile.code, toFile.stderr).toBe(0);
    const planRows = (await readFile(out, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => TrainingRowSchema.parse(JSON.parse(line)));
    expect(planRows.map((plan) => [plan.kind, plan.kind === 'plan' && plan.generation_id])).toEqual([
      ['plan', row.generation_id],
    ]);
    expect(JSON.parse(toFile.stdout)).toEqual({ rows: 1, out, cursor: planRows[0]!.cursor });

    const forbidden = await glmImage(['export', '--stage', 'plan', '--json']);
    expect(forbidden.code).toBe(2);
    expect(JSON.parse(forbidden.stdout).error.code).toBe('forbidden');
    expect((await glmImage(['export', '--stage', 'both'], { apiKey: ADMIN_KEY })).code).toBe(2);
  });

  it('edits a picture given with --reference, and keeps the reference with the generation', async () => {
    const disc = { x: 0.66, y: 0.34, radius: 0.16 };
    const picture = await discImage({
      width: 512,
      height: 512,
      disc,
      fill: [220, 30, 30],
      background: [30, 70, 220],
    });
    await writeFile(join(dir, 'in.png'), picture);
    const out = join(dir, 'green.png');
    // A relative path, as a person types it: the command runs in `dir`.
    const run = await glmImage([
      'generate',
      'make the background green',
      '--reference',
      'in.png',
      '--out',
      out,
      '--size',
      '512x512',
      '--steps',
      '4',
      '--seed',
      '11',
      '--no-preview',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${out}\n`);
    const image = await readFile(out);
    const red = await colourRegion(image, 'red');
    expect(red.centroid!.x).toBeCloseTo(disc.x, 1);
    expect(red.centroid!.y).toBeCloseTo(disc.y, 1);
    expect(dominantChannel(await meanColour(image, { x: 0, y: 0.9, w: 0.1, h: 0.1 }))).toBe('green');
    const id = /^submitted (\S+)$/m.exec(run.stderr)?.[1];
    const client = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: API_KEY });
    expect(Buffer.from((await client.downloadReference(id!, 0)).bytes).equals(picture)).toBe(true);
  });

  it('plans only: saves the preview, prints the id, and approve decodes the plan', async () => {
    const out = join(dir, 'plan.png');
    const run = await glmImage([
      'generate',
      'a yellow triangle on a purple background',
      '--plan-only',
      '--out',
      out,
      '--size',
      '512x512',
      '--steps',
      '3',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const { generation, files } = JSON.parse(run.stdout);
    expect(generation).toMatchObject({ status: 'succeeded', outputs: [], input: { decode: false } });
    expect(files).toEqual({ outputs: [], preview: join(dir, 'plan.preview.png') });
    expect((await sharp(await readFile(files.preview)).metadata()).format).toBe('png');
    expect(existsSync(out)).toBe(false);

    // Without --json, stdout is the id alone, for a script to approve.
    const plain = await glmImage(['generate', 'a purple square', '--plan-only', '--steps', '3']);
    expect(plain.code, plain.stderr).toBe(0);
    const planId = plain.stdout.trim();
    expect(plain.stdout).toBe(`${planId}\n`);
    expect(plain.stderr).toContain(`glm-image approve ${planId}`);
    expect(existsSync(join(dir, `${planId}.preview.png`))).toBe(true);

    const approved = await glmImage(['approve', generation.id, '--out', join(dir, 'approved.png')]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toBe(`${join(dir, 'approved.png')}\n`);
    const image = await readFile(join(dir, 'approved.png'));
    expect(await sharp(image).metadata()).toMatchObject({ format: 'png', width: 512, height: 512 });
    // The planned purple background: red and blue, little green.
    const [r, g, b] = await meanColour(image, { x: 0, y: 0, w: 0.1, h: 0.1 });
    expect(Math.min(r, b)).toBeGreaterThan(g + 60);
    // render is the same command under its first name.
    const rendered = await glmImage(['render', generation.id, '--seed', '5', '--json']);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(JSON.parse(rendered.stdout).generation.input).toMatchObject({
      source_generation_id: generation.id,
      seed: 5,
    });
  });

  it('exits 2 for a --reference file that is missing, not an image, or refused by the API, naming it', async () => {
    const client = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: API_KEY });
    const newest = async () => (await client.list({ limit: 1 })).items[0]?.id;
    const before = await newest();
    const missing = await glmImage(['generate', 'make it green', '--reference', 'nowhere.png']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--reference nowhere.png: no such file');
    expect(missing.stdout).toBe('');

    await writeFile(join(dir, 'notes.png'), 'not a picture');
    const text = await glmImage(['generate', 'make it green', '--reference', 'notes.png', '--json']);
    expect(text.code).toBe(2);
    expect(JSON.parse(text.stdout).error).toEqual({
      code: 'usage',
      message: '--reference notes.png: not a PNG, JPEG or WebP image',
    });
    const five = Array.from({ length: 5 }, () => ['--reference', 'in.png']).flat();
    const tooMany = await glmImage(['generate', 'make it green', ...five]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('at most 4 --reference images');
    // An image the API will not take (too few pixels) is its refusal, in its words.
    const tiny = { width: 16, height: 16, channels: 3, background: { r: 0, g: 0, b: 0 } } as const;
    await writeFile(join(dir, 'tiny.png'), await sharp({ create: tiny }).png().toBuffer());
    const refused = await glmImage(['generate', 'make it green', '--reference', 'tiny.png', '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error).toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^reference_images\[0\]: /),
    });
    // Nothing was stored for any of them.
    expect(await newest()).toBe(before);
  });

  it('documents its exit codes and every command in --help', async () => {
    const help = await glmImage(['--help']);
    expect(help.code).toBe(0);
    for (const option of ['--reference', '--plan-only']) expect(help.stdout).toContain(option);
    for (const code of ['0', '1', '2', '3', '4'])
      expect(help.stdout).toMatch(new RegExp(`^ {2}${code} `, 'm'));
    for (const command of ['generate', 'render', 'approve', 'status', 'cancel', 'list', 'feedback', 'export'])
      expect(help.stdout).toMatch(new RegExp(`^ {2}glm-image ${command} `, 'm'));
  });
});
