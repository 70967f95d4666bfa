import { DECODER_ENV_VARS, PLANNER_ENV_VARS, parseDecoderEnv, parsePlannerEnv } from '@glm-image/shared/env';
import { ConfigError } from '@glm-image/shared/errors';
import { describe, expect, it } from 'vitest';
import { API_ENV_VARS, parseApiEnv } from './env.ts';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('env', () => {
  it('fills every default from an empty environment', () => {
    const env = parseApiEnv({});
    expect(env).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: '{glm}',
      PLAN_QUEUE: 'plan',
      DECODE_QUEUE: 'decode',
      WEBHOOK_QUEUE: 'webhook',
      S3_REGION: 'us-east-1',
      S3_BUCKET: 'generations',
      S3_FORCE_PATH_STYLE: true,
      RETENTION_SECONDS: 604800,
      PORT: 3000,
      HOST: '127.0.0.1',
      JOB_ATTEMPTS: 3,
      API_KEYS: [],
      WEBHOOK_SECRETS: {},
      WEBHOOK_ALLOWLIST: [],
      WEBHOOK_DELIVERY_ENABLED: true,
      WEBHOOK_DELIVERY_CONCURRENCY: 4,
      LOG_LEVEL: 'info',
    });
    expect(env.S3_ENDPOINT).toBeUndefined();
    expect(parsePlannerEnv({}).METRICS_PORT).toBe(9464);
    expect(parseDecoderEnv({}).METRICS_PORT).toBe(9465);
    expect(parseDecoderEnv({}).EXECUTION_PROVIDER).toBe('cpu');
  });

  it('coerces strings into numbers, booleans, lists and JSON, and treats "" as unset', () => {
    const hash = 'A'.repeat(64);
    const env = parseApiEnv({
      PORT: '8080',
      S3_FORCE_PATH_STYLE: 'false',
      WEBHOOK_ALLOWLIST: ' hooks.local , 10.0.0.0/8,',
      API_KEYS: JSON.stringify([{ sha256: hash, tenant: 'acme', admin: true, rate_per_minute: 60 }]),
      WEBHOOK_SECRETS: '{"acme":"whsec_abc"}',
      S3_ENDPOINT: '',
    });
    expect(env.PORT).toBe(8080);
    expect(env.S3_FORCE_PATH_STYLE).toBe(false);
    expect(env.WEBHOOK_ALLOWLIST).toEqual(['hooks.local', '10.0.0.0/8']);
    expect(env.API_KEYS).toEqual([
      { sha256: 'a'.repeat(64), tenant: 'acme', admin: true, rate_per_minute: 60 },
    ]);
    expect(env.WEBHOOK_SECRETS).toEqual({ acme: 'whsec_abc' });
    expect(env.S3_ENDPOINT).toBeUndefined();
    expect(parsePlannerEnv({ EXECUTION_PROVIDER: 'cuda', CUDA_DEVICE_ID: '1' })).toMatchObject({
      EXECUTION_PROVIDER: 'cuda',
      CUDA_DEVICE_ID: 1,
    });
  });

  it('reports every bad variable in one error', () => {
    const error = configError(() =>
      parseApiEnv({
        PORT: 'eighty',
        REDIS_URL: 'http://nope',
        QUEUE_PREFIX: 'glm',
        API_KEYS: '[{"sha256":"xyz","tenant":"acme"}]',
        WEBHOOK_SECRETS: 'not json',
        S3_FORCE_PATH_STYLE: 'maybe',
        WEBHOOK_ALLOWLIST: '10.0.0.0/99',
        WEBHOOK_DELIVERY_CONCURRENCY: '0',
      }),
    );
    expect(error.problems.map((p) => p.variable).sort()).toEqual(
      [
        'API_KEYS',
        'PORT',
        'QUEUE_PREFIX',
        'REDIS_URL',
        'S3_FORCE_PATH_STYLE',
        'WEBHOOK_ALLOWLIST',
        'WEBHOOK_DELIVERY_CONCURRENCY',
        'WEBHOOK_SECRETS',
      ].sort(),
    );
    expect(error.message).toContain('- WEBHOOK_ALLOWLIST: invalid CIDR 10.0.0.0/99');
    for (const variable of ['PORT', 'REDIS_URL', 'QUEUE_PREFIX', 'API_KEYS', 'WEBHOOK_SECRETS']) {
      expect(error.message).toContain(`- ${variable}:`);
    }
    expect(error.message).toContain('hash tag');
    expect(error.code).toBe('invalid_config');
  });

  it('checks variables that only make sense together', () => {
    const error = configError(() =>
      parsePlannerEnv({
        S3_ACCESS_KEY_ID: 'id',
        PLAN_QUEUE: 'jobs',
        DECODE_QUEUE: 'jobs',
        EXECUTION_PROVIDER: 'tpu',
      }),
    );
    expect(error.problems.map((p) => p.variable).sort()).toEqual(
      ['EXECUTION_PROVIDER', 'PLAN_QUEUE/DECODE_QUEUE/WEBHOOK_QUEUE', 'S3_SECRET_ACCESS_KEY'].sort(),
    );
    const dup = 'b'.repeat(64);
    const keys = JSON.stringify([
      { sha256: dup, tenant: 'a' },
      { sha256: dup, tenant: 'b' },
    ]);
    expect(configError(() => parseApiEnv({ API_KEYS: keys })).problems).toEqual([
      { variable: 'API_KEYS', message: 'the same key hash appears twice' },
    ]);
  });

  it('refuses a replaced variable, naming its successor', () => {
    expect(configError(() => parsePlannerEnv({ PLANNER_CONCURRENCY: '4' })).problems).toEqual([
      { variable: 'PLANNER_CONCURRENCY', message: 'was replaced by PLANNER_MAX_BATCH' },
    ]);
    expect(parsePlannerEnv({ PLANNER_MAX_BATCH: '4' }).PLANNER_MAX_BATCH).toBe(4);
  });

  it('lists the variables each app reads', () => {
    for (const list of [API_ENV_VARS, PLANNER_ENV_VARS, DECODER_ENV_VARS]) {
      expect(list).toEqual(
        expect.arrayContaining(['REDIS_URL', 'QUEUE_PREFIX', 'S3_BUCKET', 'RETENTION_SECONDS']),
      );
    }
    expect(API_ENV_VARS).toEqual(expect.arrayContaining(['PORT', 'HOST', 'API_KEYS', 'DEV_API_KEY']));
    expect(API_ENV_VARS).not.toContain('PLANNER_MAX_BATCH');
    expect(PLANNER_ENV_VARS).toEqual(
      expect.arrayContaining(['PLANNER_MAX_BATCH', 'METRICS_PORT', 'MODEL_PACK_PATH']),
    );
    expect(PLANNER_ENV_VARS).not.toContain('DECODER_CONCURRENCY');
    // Replaced, so refused: a manifest may not set it.
    expect(PLANNER_ENV_VARS).not.toContain('PLANNER_CONCURRENCY');
    expect(DECODER_ENV_VARS).toEqual(expect.arrayContaining(['DECODER_CONCURRENCY', 'EXECUTION_PROVIDER']));
  });
});
