/** The evaluator worker process: the environment, then the worker until SIGTERM. */
import { parseEnvOrExit, parseEvaluatorEnv } from '@glm-image/shared/env';
import { stopOnSignals } from '@glm-image/worker-runtime';
import { createEvaluatorWorker } from './evaluator-worker.ts';

const env = parseEnvOrExit(() => parseEvaluatorEnv());
stopOnSignals(await createEvaluatorWorker(env));
