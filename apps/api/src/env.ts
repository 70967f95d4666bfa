/**
 * The API's environment: what every process reads, plus the HTTP edge's own variables
 * (listen address, keys, webhook delivery, retention sweeps, the reconciler). Parsed
 * once at start-up; a bad environment is reported as one message, exit code 78.
 */

import { DEFAULT_REFERENCE_IMAGE_LIMITS } from '@glm-image/inference/reference-images';
import {
  commaList,
  commonShape,
  type EnvProblem,
  httpUrl,
  int,
  jsonText,
  parseEnvSchema,
  port,
  positiveInt,
  type RawEnv,
  workerShape,
} from '@glm-image/shared/env';
import { z } from 'zod';
import { DEFAULT_WEBHOOK_BACKOFF } from './webhooks/backoff.ts';
import { DEFAULT_WEBHOOK_TIMEOUT_MS } from './webhooks/http-delivery.ts';
import { parseWebhookAllowList } from './webhooks/ssrf-guard.ts';

export const apiKeyEntrySchema = z.object({
  /** Hex SHA-256 of the key; the key itself is never stored. */
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
    .transform((hex) => hex.toLowerCase()),
  tenant: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "_" or "-"'),
  admin: z.boolean().optional(),
  rate_per_minute: z.number().int().positive().optional(),
  max_in_flight: z.number().int().positive().optional(),
  priority: z.number().int().optional(),
});
export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema>;
export const apiEnvSchema = z.object({
  ...commonShape,
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  MODEL_PACK_PATH: workerShape.MODEL_PACK_PATH,
  DEV_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  API_KEYS: jsonText(z.array(apiKeyEntrySchema)).default([]),
  WEBHOOK_SECRETS: jsonText(
    z.record(z.string(), z.string().regex(/^whsec_.+/, 'each secret must start with whsec_')),
  ).default({}),
  /** Host names, addresses and CIDR ranges webhooks may reach although they are not public. */
  WEBHOOK_ALLOWLIST: commaList
    .superRefine((entries, ctx) => {
      try {
        parseWebhookAllowList(entries);
      } catch (error) {
        // The parser names the variable itself; the ConfigError already does.
        ctx.addIssue({
          code: 'custom',
          message: (error as Error).message.replace(/^WEBHOOK_ALLOWLIST: /, ''),
        });
      }
    })
    .default([]),
  /** Base URL clients reach the API at; generation objects (webhook bodies too) link to it. */
  PUBLIC_API_URL: httpUrl.default('http://127.0.0.1:3000'),
  /** The API process delivers webhooks; turn off where a separate deployment does it instead. */
  WEBHOOK_DELIVERY_ENABLED: z.stringbool().default(true),
  /** Deliveries in flight at once per API process; they mostly wait on receivers. */
  WEBHOOK_DELIVERY_CONCURRENCY: int(1, 256).default(4),
  /**
   * How long one delivery attempt may take, per hop: until the receiver's response headers,
   * and again for the little of its body that is read. Past it the attempt fails as
   * `webhook_timeout` and is retried.
   */
  WEBHOOK_TIMEOUT_MS: positiveInt.default(DEFAULT_WEBHOOK_TIMEOUT_MS),
  /** Delay before the first retry of a failed delivery; it doubles on each retry (with jitter). */
  WEBHOOK_BACKOFF_MS: positiveInt.default(DEFAULT_WEBHOOK_BACKOFF.baseMs),
  /** How often expired objects are deleted from the bucket (one replica sweeps per interval). */
  RETENTION_SWEEP_INTERVAL_MS: positiveInt.default(3_600_000),
  /**
   * Which X-Forwarded-* headers to believe: unset or `false` none (the default: any client
   * could set them); `true` all; or a comma-separated list of the proxies' addresses/CIDRs.
   */
  TRUST_PROXY: z
    .string()
    .transform((value): boolean | string => {
      const trimmed = value.trim();
      if (trimmed === 'false') return false;
      if (trimmed === 'true') return true;
      return trimmed;
    })
    .default(false),
  /** Failed authentications one client address may make per minute before it gets 429. */
  AUTH_FAILURES_PER_MINUTE: int(1, 1_000_000).default(30),
  /** Largest reference image a request may bring (image-to-image), in bytes; 8 MiB by default. */
  REFERENCE_IMAGE_MAX_BYTES: int(1024, 64 * 1024 * 1024).default(DEFAULT_REFERENCE_IMAGE_LIMITS.maxBytes),
  /** How often one replica looks for generations stored but never queued. */
  RECONCILE_INTERVAL_MS: positiveInt.default(10_000),
  /** How old a generation must be before a missing job counts as stranded rather than on its way. */
  RECONCILE_AFTER_MS: positiveInt.default(15_000),
});
export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** The variables the API reads: deploy manifests are checked against this list. */
export const API_ENV_VARS: readonly string[] = Object.keys(apiEnvSchema.shape);

function apiChecks(env: Partial<ApiEnv>): EnvProblem[] {
  if (env.API_KEYS === undefined) return [];
  const hashes = env.API_KEYS.map((entry) => entry.sha256);
  return new Set(hashes).size === hashes.length
    ? []
    : [{ variable: 'API_KEYS', message: 'the same key hash appears twice' }];
}

export function parseApiEnv(env: RawEnv = process.env): ApiEnv {
  return parseEnvSchema(apiEnvSchema, env, apiChecks);
}
