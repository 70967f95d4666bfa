import { describe, expect, it } from 'vitest';
import type { Generation } from '../types.ts';
import { ProgressView } from './progress.ts';

function at(status: Generation['status'], progress: Generation['progress']): Generation {
  return { status, progress } as Generation;
}

const run = [
  at('queued', { stage: 'queued' }),
  at('planning', { stage: 'planning', step: 10, total: 64 }),
  at('planning', { stage: 'planning', step: 64, total: 64 }),
  at('decoding', { stage: 'decoding', step: 1, total: 4 }),
  at('decoding', { stage: 'decoding', step: 4, total: 4 }),
  at('succeeded', { stage: 'uploading' }),
];

function render(isTTY: boolean): string {
  let text = '';
  const view = new ProgressView({ write: (chunk: string) => (text += chunk), isTTY }, true);
  for (const generation of run) view.update(generation);
  view.closeLine();
  return text;
}

describe('progress', () => {
  it('draws one bar per stage on a terminal, redrawn in place', () => {
    const text = render(true);
    expect(text).toContain('\r\x1b[2Kplanning   [####--------------------] 10/64');
    expect(text).toContain('\r\x1b[2Kplanning   [########################] 64/64\n');
    expect(text).toContain('decoding   [########################] 4/4\n');
    expect(text.endsWith('succeeded\n')).toBe(true);
  });

  it('writes one plain line per stage elsewhere', () => {
    expect(render(false)).toBe('queued\nplanning\ndecoding\nsucceeded\n');
  });
});
