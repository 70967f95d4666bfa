import { describe, expect, it } from 'vitest';
import { readJsonLines, TruncatedBodyError } from './json-lines.ts';

/** A body delivered in exactly these chunks, then ended or broken off. */
function body(chunks: string[], end: 'close' | 'error' = 'close'): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (end === 'close') controller.close();
      else controller.error(new TypeError('terminated'));
    },
  });
}

async function lines(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const seen: string[] = [];
  for await (const line of readJsonLines(stream)) seen.push(line);
  return seen;
}

describe('JSON Lines', () => {
  it('gives each whole line, however the chunks split them, multi-byte characters included', async () => {
    const text = '{"a":1}\n{"b":"日本"}\n\n{"c":3}\n';
    const bytes = new TextEncoder().encode(text);
    // Split inside a line and inside a three-byte character.
    const cuts = [3, 12, 15, bytes.length];
    const chunks: Uint8Array[] = [];
    let from = 0;
    for (const cut of cuts) {
      chunks.push(bytes.slice(from, cut));
      from = cut;
    }
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    expect(await lines(stream)).toEqual(['{"a":1}', '{"b":"日本"}', '{"c":3}']);
    expect(await lines(body([]))).toEqual([]);
  });

  it('refuses half a line: a body cut mid-line or broken off is truncated', async () => {
    const cut: string[] = [];
    await expect(
      (async () => {
        for await (const line of readJsonLines(body(['{"a":1}\n{"b"']))) cut.push(line);
      })(),
    ).rejects.toBeInstanceOf(TruncatedBodyError);
    expect(cut).toEqual(['{"a":1}']);
    await expect(lines(body(['{"a":1}\n'], 'error'))).rejects.toBeInstanceOf(TruncatedBodyError);
  });
});
