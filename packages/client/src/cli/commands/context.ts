import type { GlmImageClient } from '../../client.ts';
import type { ProgressView } from '../progress.ts';

/** What every command gets: the client, where to print, and the Ctrl-C signal. */
export interface CommandContext {
  client: GlmImageClient;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  signal: AbortSignal;
  json: boolean;
  progress: ProgressView;
}

export function printJson(context: CommandContext, value: unknown): void {
  context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
