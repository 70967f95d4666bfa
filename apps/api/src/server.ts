import { parseEnvOrExit } from '@glm-image/shared/env';
import { initTracing } from '@glm-image/shared/tracing';
import { buildApp, REDACTED_LOG_PATHS } from './app.ts';
import { parseApiEnv } from './env.ts';
import { startReconciler } from './services/reconciler.ts';
import { startRetentionSweeper } from './services/retention-sweeper.ts';
import { startApiWebhookDelivery } from './webhooks/api-delivery.ts';

/**
 * The API process: parse the environment once, build the app, start its background work
 * (webhook delivery, the reconciler of stranded generations, the retention sweep),
 * listen, and on SIGTERM or SIGINT stop taking connections and deliveries, let in-flight
 * requests and deliveries finish (up to SHUTDOWN_GRACE_MS), then close Redis and the queues.
 */
async function main(): Promise<void> {
  const env = parseEnvOrExit(() => parseApiEnv(process.env));
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; must precede the first span.
  const tracing = initTracing({
    serviceName: 'api',
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
  });
  const app = await buildApp({
    env,
    logger: { level: env.LOG_LEVEL, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' } },
    trustProxy: env.TRUST_PROXY,
  });
  const sweeper = startRetentionSweeper({
    redis: app.redis,
    objects: app.objects,
    keys: app.keys,
    retentionSeconds: env.RETENTION_SECONDS,
    intervalMs: env.RETENTION_SWEEP_INTERVAL_MS,
    log: app.log,
  });
  const reconciler = startReconciler({
    redis: app.redis,
    store: app.store,
    lifecycle: app.lifecycle,
    jobs: app.jobs,
    strandedAfterMs: env.RECONCILE_AFTER_MS,
    intervalMs: env.RECONCILE_INTERVAL_MS,
    log: app.log,
  });
  const webhooks = startApiWebhookDelivery(env, {
    metrics: app.metrics,
    presenter: app.presenter,
    log: app.log,
  });

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    sweeper.stop();
    reconciler.stop();
    const forced = setTimeout(() => {
      app.log.error('grace period over; exiting with requests still open');
      process.exit(1);
    }, env.SHUTDOWN_GRACE_MS);
    forced.unref();
    // Both drain at once; closing the app also closes its Redis connection and queues.
    const drained = await Promise.allSettled([app.close(), webhooks?.close()]);
    for (const result of drained) {
      if (result.status === 'rejected') app.log.error({ err: result.reason }, 'error while closing');
    }
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
