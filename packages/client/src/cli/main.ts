import { GlmImageClient } from '../client.ts';
import { ApiError, ConnectionError } from '../errors.ts';
import { type Command, connectionOf, parseCommand, USAGE } from './args.ts';
import type { CommandContext } from './commands/context.ts';
import { followAndSave, previewPath, readReferences } from './commands/generate.ts';
import { cancel, list, status } from './commands/inspect.ts';
import { exportRows, feedback } from './commands/quality.ts';
import { EXIT, exitCodeOfError } from './exit-codes.ts';
import { ProgressView } from './progress.ts';

/**
 * The `glm-image` command: parses the command line, runs one command against the API
 * and answers the exit code (see exit-codes.ts). Everything a script reads goes to
 * stdout; progress and errors go to stderr.
 */

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Fires on Ctrl-C. */
  signal: AbortSignal;
}

async function run(command: Exclude<Command, { name: 'help' }>, context: CommandContext): Promise<number> {
  const { client } = context;
  switch (command.name) {
    case 'generate': {
      const body = { ...command.body };
      if (command.references.length > 0) body.reference_images = await readReferences(command.references);
      const submitted = await client.submit(body, { signal: context.signal });
      const preview =
        command.preview === false ? false : (command.preview ?? previewPath(command.out, submitted.id));
      return followAndSave(context, { submitted, out: command.out, preview, wait: command.wait });
    }
    case 'render':
    case 'approve': {
      const submitted = await client.render(command.id, command.body, { signal: context.signal });
      return followAndSave(context, { submitted, out: command.out, preview: false, wait: command.wait });
    }
    case 'status':
      return status(context, command.id);
    case 'cancel':
      return cancel(context, command.id);
    case 'list':
      return list(context, command);
    case 'feedback':
      return feedback(context, command);
    case 'export':
      return exportRows(context, command);
  }
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let json = argv.includes('--json');
  /** Rows of JSON Lines go to stdout: an error document must stay one line among them. */
  let jsonLines = false;
  let generates = false;
  try {
    const command = parseCommand(argv);
    if (command.name === 'help') {
      io.stdout.write(USAGE);
      return EXIT.succeeded;
    }
    json = command.json;
    jsonLines = command.name === 'export' && command.out === null;
    generates = command.name === 'generate' || command.name === 'render' || command.name === 'approve';
    const { apiUrl, apiKey } = connectionOf(argv, io.env);
    const progress = new ProgressView(io.stderr, !command.quiet);
    const client = new GlmImageClient({
      baseUrl: apiUrl,
      apiKey,
      retry: {
        onRetry: (retry) =>
          progress.note(
            `retrying in ${(retry.delayMs / 1000).toFixed(1)} s: ${retry.status ? `HTTP ${retry.status}` : 'no answer'}`,
          ),
      },
    });
    return await run(command, {
      client,
      stdout: io.stdout,
      stderr: io.stderr,
      signal: io.signal,
      json,
      progress,
    });
  } catch (error) {
    if (io.signal.aborted) {
      io.stderr.write(
        generates ? '\ninterrupted; the generation goes on (glm-image status <id>)\n' : '\ninterrupted\n',
      );
      return EXIT.interrupted;
    }
    const code = exitCodeOfError(error);
    const message = error instanceof Error ? error.message : String(error);
    if (json) {
      const errorCode =
        error instanceof ApiError || error instanceof ConnectionError
          ? error.code
          : code === EXIT.badInput
            ? 'usage'
            : 'client_error';
      const document = { error: { code: errorCode, message } };
      io.stdout.write(`${JSON.stringify(document, null, jsonLines ? undefined : 2)}\n`);
    }
    io.stderr.write(`glm-image: ${message}\n`);
    if (code === EXIT.badInput && !(error instanceof ApiError)) io.stderr.write('try: glm-image --help\n');
    return code;
  }
}
