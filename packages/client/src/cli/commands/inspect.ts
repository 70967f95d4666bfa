import type { Generation } from '../../types.ts';
import { EXIT, exitCodeOfStatus } from '../exit-codes.ts';
import { type CommandContext, printJson } from './context.ts';

/** status, cancel and list: read or change a generation and print it. */

function summary(generation: Generation): string {
  const { step, total, stage } = generation.progress;
  const progress = step !== undefined && total !== undefined ? ` ${stage} ${step}/${total}` : '';
  const lines = [`${generation.id}  ${generation.status}${progress}`];
  if (generation.error) lines.push(`  error    ${generation.error.code}: ${generation.error.message}`);
  if (generation.preview) lines.push(`  preview  ${generation.preview.url}`);
  for (const output of generation.outputs) lines.push(`  output   ${output.url}`);
  return `${lines.join('\n')}\n`;
}

export async function status(context: CommandContext, id: string): Promise<number> {
  const generation = await context.client.get(id, { signal: context.signal });
  if (context.json) printJson(context, generation);
  else context.stdout.write(summary(generation));
  return exitCodeOfStatus(generation.status);
}

export async function cancel(context: CommandContext, id: string): Promise<number> {
  const generation = await context.client.cancel(id, { signal: context.signal });
  if (context.json) printJson(context, generation);
  else context.stdout.write(summary(generation));
  return EXIT.succeeded;
}

function row(generation: Generation): string {
  const prompt = generation.input.prompt.replace(/\s+/g, ' ');
  const shown = prompt.length > 48 ? `${prompt.slice(0, 47)}…` : prompt;
  return `${generation.id}  ${generation.status.padEnd(9)}  ${generation.created_at}  ${shown}\n`;
}

export async function list(
  context: CommandContext,
  options: { limit?: number; cursor?: string; all: boolean },
): Promise<number> {
  const { client, signal } = context;
  if (options.all) {
    const items: Generation[] = [];
    for await (const generation of client.listAll({
      signal,
      ...(options.limit !== undefined ? { pageSize: options.limit } : {}),
    })) {
      if (context.json) items.push(generation);
      else context.stdout.write(row(generation));
    }
    if (context.json) printJson(context, { items, next_cursor: null });
    return EXIT.succeeded;
  }
  const page = await client.list({
    signal,
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
  });
  if (context.json) {
    printJson(context, page);
  } else {
    for (const generation of page.items) context.stdout.write(row(generation));
    if (page.next_cursor) context.stderr.write(`more: glm-image list --cursor ${page.next_cursor}\n`);
  }
  return EXIT.succeeded;
}
