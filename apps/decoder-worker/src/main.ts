/** The decoder worker process: the environment, then the worker until SIGTERM. */
import { parseDecoderEnv, parseEnvOrExit } from '@glm-image/shared/env';
import { stopOnSignals } from '@glm-image/worker-runtime';
import { createDecoderWorker } from './decoder-worker.ts';

const env = parseEnvOrExit(() => parseDecoderEnv());
stopOnSignals(await createDecoderWorker(env));
