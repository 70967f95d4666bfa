import { parseApiEnv, parseEnvOrExit } from '@glm-image/shared/env';
import { startRetentionSweeper } from '@glm-image/shared/retention-sweeper';
import { initTracing } from '@glm-image/shared/tracing';
import { buildApp, REDACTED_LOG_PATHS } from './app.ts';
import { createApiContext } from './context.ts';
import { startApiWebhookDelivery } from './webhook-delivery.ts';

/**
 * The API process: parse the environment once, build the app, start delivering
 * webhooks, listen, and on SIGTERM or SIGINT stop taking connections and deliveries, let
 * in-flight requests and deliveries finish (up to SHUTDOWN_GRACE_MS), then close Redis
 * and the queues.
 */
async function main(): Promise<void> {
  const env = parseEnvOrExit(() => parseApiEnv(process.env));
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; must precede the first span.
  const tracing = initTracing({
    serviceName: 'api',
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
  });
  const context = await createApiContext(env);
  const app = await buildApp(context, {
    logger: { level: env.LOG_LEVEL, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } },
    trustProxy: true,
  });
  if (context.keys.size === 0) {
    app.log.warn('no API keys configured (API_KEYS, DEV_API_KEY): every /v1 request will answer 401');
  }
  const sweeper = startRetentionSweeper({
    redis: context.redis,
    objects: context.objects,
    keyPrefix: context.keyPrefix,
    retentionSeconds: env.RETENTION_SECONDS,
    intervalMs: env.RETENTION_SWEEP_INTERVAL_MS,
    log: app.log,
  });
  const webhooks = startApiWebhookDelivery(env, { metrics: context.metrics, log: app.log });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    sweeper.stop();
    const forced = setTimeout(() => {
      app.log.error('grace period over; exiting with requests still open');
      process.exit(1);
    }, env.SHUTDOWN_GRACE_MS);
    forced.unref();
    // Both drain at once; each needs Redis, so it closes only after both are done.
    const drained = await Promise.allSettled([app.close(), webhooks?.close()]);
    for (const result of drained) {
      if (result.status === 'rejected') app.log.error({ err: result.reason }, 'error while closing');
    }
    await context.close();
    await tracing.shutdown();
    clearTimeout(forced);
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  await app.listen({ host: env.HOST, port: env.PORT });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `api failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
