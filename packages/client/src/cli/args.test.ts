import { describe, expect, it } from 'vitest';
import { connectionOf, parseCommand } from './args.ts';
import { outputPaths, previewPath } from './commands/generate.ts';
import { UsageError } from './exit-codes.ts';

describe('the command line', () => {
  it('turns generate options into the request body, with only what was given', () => {
    expect(
      parseCommand([
        'generate',
        'a cat',
        '--size',
        '768x512',
        '--seed',
        '7',
        '--n',
        '2',
        '--out',
        'cat.webp',
      ]),
    ).toEqual({
      name: 'generate',
      json: false,
      quiet: false,
      body: { prompt: 'a cat', width: 768, height: 512, seed: 7, n: 2, output_format: 'webp' },
      references: [],
      out: 'cat.webp',
      preview: null,
      wait: true,
    });
    expect(
      parseCommand(['render', 'gen_1', '--steps', '9', '--guidance', '3.5', '--format', 'jpg', '--no-wait']),
    ).toMatchObject({
      name: 'render',
      id: 'gen_1',
      body: { steps: 9, guidance_scale: 3.5, output_format: 'jpeg' },
      wait: false,
    });
    expect(parseCommand(['list', '--all', '--json'])).toMatchObject({ name: 'list', all: true, json: true });
    expect(parseCommand([])).toEqual({ name: 'help' });
  });

  it('takes up to four reference images and plan-only for generate, and approve as render', () => {
    expect(
      parseCommand([
        'generate',
        'make it green',
        '--reference',
        'a.png',
        '--reference',
        'b.jpg',
        '--plan-only',
      ]),
    ).toMatchObject({
      name: 'generate',
      body: { prompt: 'make it green', decode: false },
      references: ['a.png', 'b.jpg'],
    });
    expect(parseCommand(['generate', 'a cat'])).not.toHaveProperty('body.decode');
    const five = ['a', 'b', 'c', 'd', 'e'].flatMap((name) => ['--reference', `${name}.png`]);
    expect(() => parseCommand(['generate', 'a cat', ...five])).toThrow(
      new UsageError('at most 4 --reference images, not 5'),
    );
    expect(() => parseCommand(['render', 'gen_1', '--reference', 'a.png'])).toThrow(UsageError);
    expect(parseCommand(['approve', 'gen_1', '--seed', '3', '--out', 'x.png'])).toEqual({
      name: 'approve',
      json: false,
      quiet: false,
      id: 'gen_1',
      body: { seed: 3, output_format: 'png' },
      out: 'x.png',
      wait: true,
    });
  });

  it('turns feedback and export options into the request, with only what was given', () => {
    expect(
      parseCommand([
        'feedback',
        'gen_1',
        '--rating',
        '2',
        '--stage',
        'decode',
        '--label',
        'text_wrong',
        '--label',
        'artifacts',
        '--comment',
        'the I looks like a 1',
        '--prefer',
        '1',
      ]),
    ).toEqual({
      name: 'feedback',
      json: false,
      quiet: false,
      id: 'gen_1',
      body: {
        stage: 'decode',
        rating: 2,
        labels: ['text_wrong', 'artifacts'],
        comment: 'the I looks like a 1',
        preferred_output: 1,
      },
    });
    expect(
      parseCommand(['feedback', 'gen_1', '--label', 'bad_hands', '--idempotency-key', 'k1']),
    ).toMatchObject({
      body: { labels: ['bad_hands'] },
      idempotencyKey: 'k1',
    });
    expect(
      parseCommand([
        'export',
        '--stage',
        'plan',
        '--since',
        '2025-01-31',
        '--limit',
        '10',
        '--out',
        'p.jsonl',
      ]),
    ).toEqual({
      name: 'export',
      json: false,
      quiet: false,
      query: { stage: 'plan', since: '2025-01-31T00:00:00.000Z', limit: 10 },
      out: 'p.jsonl',
    });
    expect(parseCommand(['export', '--stage', 'decode', '--cursor', 'c', '--tenant', 'acme'])).toMatchObject({
      query: { stage: 'decode', cursor: 'c', tenant: 'acme' },
      out: null,
    });
  });

  it('refuses what it cannot send, before sending anything', () => {
    const refused = [
      ['generate'],
      ['generate', 'a', 'b'],
      ['generate', 'a cat', '--size', '512'],
      ['generate', 'a cat', '--size', '512x512', '--width', '512'],
      ['generate', 'a cat', '--steps', 'many'],
      ['generate', 'a cat', '--format', 'gif'],
      ['generate', 'a cat', '--out', 'a.png', '--format', 'webp'],
      ['generate', 'a cat', '--preview', 'p.png', '--no-preview'],
      ['status', 'id', '--seed', '1'],
      ['paint', 'a cat'],
      ['generate', 'a cat', '--colour', 'red'],
      ['feedback', 'gen_1'],
      ['feedback', 'gen_1', '--rating', 'good'],
      ['feedback', 'gen_1', '--rating', '5', '--stage', 'layout'],
      ['feedback', '--rating', '5'],
      ['feedback', 'gen_1', '--rating', '5', '--out', 'x'],
      ['export'],
      ['export', '--stage', 'both'],
      ['export', '--stage', 'plan', '--since', 'yesterday'],
      ['export', 'plan'],
    ];
    for (const argv of refused) expect(() => parseCommand(argv), argv.join(' ')).toThrow(UsageError);
  });

  it('needs a key and an http(s) URL', () => {
    expect(connectionOf([], { GLM_IMAGE_API_KEY: 'k' })).toEqual({
      apiUrl: 'http://127.0.0.1:3000',
      apiKey: 'k',
    });
    expect(connectionOf(['--api-url', 'https://x.test', '--api-key', 'k2'], {})).toEqual({
      apiUrl: 'https://x.test',
      apiKey: 'k2',
    });
    expect(() => connectionOf([], {})).toThrow(UsageError);
    expect(() => connectionOf(['--api-url', 'ftp://x'], { GLM_IMAGE_API_KEY: 'k' })).toThrow(UsageError);
  });

  it('names the files it writes', () => {
    expect(outputPaths('a.png', 'g', 'png', 1)).toEqual(['a.png']);
    expect(outputPaths('out/a.png', 'g', 'png', 3)).toEqual(['out/a-1.png', 'out/a-2.png', 'out/a-3.png']);
    expect(outputPaths(null, 'g1', 'jpeg', 1)).toEqual(['g1.jpg']);
    expect(outputPaths('plain', 'g', 'png', 2)).toEqual(['plain-1', 'plain-2']);
    expect(previewPath('out/a.png', 'g')).toBe('out/a.preview.png');
    expect(previewPath(null, 'g1')).toBe('g1.preview.png');
  });
});
