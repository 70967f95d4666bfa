import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import type { CreateFeedbackRequest, Feedback } from '../../types.ts';
import type { ExportQuery } from '../args.ts';
import { EXIT } from '../exit-codes.ts';
import { type CommandContext, printJson } from './context.ts';

/** feedback and export: a person's judgement of a generation in, the training rows out. */

function describeFeedback(feedback: Feedback): string {
  const parts = [feedback.id, `stage ${feedback.stage}`];
  if (feedback.rating !== undefined) parts.push(`rating ${feedback.rating}`);
  if (feedback.labels.length > 0) parts.push(`labels ${feedback.labels.join(',')}`);
  if (feedback.preferred_output !== undefined) parts.push(`prefers ${feedback.preferred_output}`);
  if (feedback.comment !== undefined) parts.push(JSON.stringify(feedback.comment));
  return `${parts.join('  ')}\n`;
}

export async function feedback(
  context: CommandContext,
  request: { id: string; body: CreateFeedbackRequest; idempotencyKey?: string },
): Promise<number> {
  const given = await context.client.feedback(request.id, request.body, {
    signal: context.signal,
    ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
  });
  if (context.json) printJson(context, given);
  else context.stdout.write(describeFeedback(given));
  return EXIT.succeeded;
}

/** Where the rows go: a file, or the command's stdout; each write waits while the reader is behind. */
interface LineSink {
  write(line: string): Promise<void>;
  close(): Promise<void>;
}

async function fileSink(path: string): Promise<LineSink> {
  await mkdir(dirname(path), { recursive: true });
  const file = createWriteStream(path);
  await once(file, 'open');
  return {
    async write(line) {
      if (!file.write(line)) await once(file, 'drain');
    },
    async close() {
      file.end();
      await once(file, 'finish');
    },
  };
}

function streamSink(out: CommandContext['stdout']): LineSink {
  const stream = out as Partial<Writable> & CommandContext['stdout'];
  return {
    async write(line) {
      if (stream.write(line) === false && typeof stream.once === 'function')
        await once(stream as Writable, 'drain');
    },
    async close() {},
  };
}

export async function exportRows(
  context: CommandContext,
  request: { query: ExportQuery; out: string | null },
): Promise<number> {
  const { query, out } = request;
  const sink = out ? await fileSink(out) : streamSink(context.stdout);
  let rows = 0;
  let cursor: string | null = query.cursor ?? null;
  try {
    for await (const row of context.client.exportTraining({ ...query, signal: context.signal })) {
      await sink.write(`${JSON.stringify(row)}\n`);
      rows += 1;
      cursor = row.cursor;
    }
  } catch (error) {
    // What was written stays written: say where to pick up from.
    if (rows > 0) {
      context.stderr.write(
        `glm-image: ${rows} row(s) written before the error; continue with --cursor ${cursor}\n`,
      );
    }
    throw error;
  } finally {
    await sink.close();
  }
  context.progress.note(
    `${rows} row(s)${out ? ` written to ${out}` : ''}${cursor ? `; continue with --cursor ${cursor}` : ''}`,
  );
  if (context.json && out) printJson(context, { rows, out, cursor });
  return EXIT.succeeded;
}
