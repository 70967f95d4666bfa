// Plain-JavaScript entry of a model thread. On Node 20 a worker's `--import tsx`
// (execArgv) does not make the worker load TypeScript, so the entry registers tsx's
// ESM hooks itself and then imports the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./model-thread-worker.ts');
