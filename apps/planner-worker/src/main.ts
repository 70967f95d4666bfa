/** The planner worker process: the environment, then the worker until SIGTERM. */
import { parseEnvOrExit, parsePlannerEnv } from '@glm-image/shared/env';
import { stopOnSignals } from '@glm-image/worker-runtime';
import { createPlannerWorker } from './planner-worker.ts';

const env = parseEnvOrExit(() => parsePlannerEnv());
stopOnSignals(await createPlannerWorker(env));
