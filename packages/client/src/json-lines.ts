/**
 * A JSON Lines (NDJSON) body read line by line as it arrives, so an export of any size
 * is never held in memory whole. Every line the server finished ends with a newline: a
 * body that stops in the middle of a line was cut (the server failed mid-way, or the
 * connection dropped), and that is a TruncatedBodyError, never a half row.
 */

export class TruncatedBodyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TruncatedBodyError';
  }
}

/** The lines of `body`, without their newlines; empty lines are skipped. */
export async function* readJsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new TruncatedBodyError(`the body was cut: ${(error as Error).message}`, { cause: error });
      }
      if (chunk.done) break;
      pending += chunk.value;
      let end = pending.indexOf('\n');
      while (end !== -1) {
        const line = pending.slice(0, end).trim();
        pending = pending.slice(end + 1);
        if (line.length > 0) yield line;
        end = pending.indexOf('\n');
      }
    }
  } finally {
    // Also when the caller stops early: the rest of the body is not wanted.
    reader.cancel().catch(() => undefined);
  }
  if (pending.trim().length > 0) throw new TruncatedBodyError('the body ended in the middle of a line');
}
