#!/usr/bin/env node
// The `glm-image` command. The CLI is TypeScript; tsx (a dependency of this package) runs it.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort(new Error('interrupted')));
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: interrupt.signal,
});
