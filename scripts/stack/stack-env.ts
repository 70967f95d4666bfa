/**
 * The environment `npm start` would hand its processes, checked once before anything
 * starts, against the same schemas the API and the workers parse at start-up. Every
 * problem is reported together, once, instead of a process exiting 78 on each start.
 */
import { parseApiEnv } from '@glm-image/api/env';
import {
  type EnvProblem,
  parseDecoderEnv,
  parseEvaluatorEnv,
  parsePlannerEnv,
  port,
  type RawEnv,
} from '@glm-image/shared/env';
import { ConfigError } from '@glm-image/shared/errors';

/** What the launcher itself sets for its processes; the rest of their environment is the caller's. */
export interface LauncherSettings {
  devApiKey: string;
  modelPackPath: string;
}

function problemsOf(parse: () => unknown): EnvProblem[] {
  try {
    parse();
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

/** Every problem of the environment, each named once, even when several processes read the variable. */
export function stackEnvProblems(env: RawEnv, launcher: LauncherSettings): EnvProblem[] {
  // Redis and S3 are the launcher's own unless the caller points elsewhere: then they are checked too.
  const own: RawEnv = {
    ...(env['REDIS_URL'] ? {} : { REDIS_URL: 'redis://127.0.0.1:6379' }),
    ...(env['S3_ENDPOINT']
      ? {}
      : { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' }),
    MODEL_PACK_PATH: launcher.modelPackPath,
  };
  const processEnv = { ...env, ...own };
  const problems = [
    ...problemsOf(() => parseApiEnv({ ...processEnv, DEV_API_KEY: launcher.devApiKey })),
    // Each worker gets a free metrics port from the launcher.
    ...problemsOf(() => parsePlannerEnv({ ...processEnv, METRICS_PORT: '9464' })),
    ...problemsOf(() => parseDecoderEnv({ ...processEnv, METRICS_PORT: '9465' })),
    ...problemsOf(() => parseEvaluatorEnv({ ...processEnv, METRICS_PORT: '9466' })),
  ];
  for (const variable of ['LOCAL_REDIS_PORT', 'LOCAL_S3_PORT']) {
    const value = env[variable];
    if (value && !port.safeParse(value).success) {
      problems.push({ variable, message: 'must be a port number (1-65535)' });
    }
  }
  const seen = new Set<string>();
  return problems.filter(({ variable, message }) => {
    const key = `${variable}\n${message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function formatProblems(problems: readonly EnvProblem[]): string {
  const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
  return `npm start: the environment has ${problems.length} problem(s); nothing was started:\n${lines.join('\n')}\n`;
}
