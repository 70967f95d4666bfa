/**
 * The baseline of the submit benchmark: a bare Fastify endpoint that only adds the plan
 * job, with the job options of the queue catalog. No auth, no validation, no record.
 *
 *   PORT=... REDIS_URL=... node --import tsx bench/support/bare-submit-server.ts
 */
import { randomUUID } from 'node:crypto';
import { parsePlannerEnv } from '@glm-image/shared/env';
import { createPlanQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import Fastify from 'fastify';

const env = parsePlannerEnv();
const redis = createRedis(env.REDIS_URL);
const queue = createPlanQueue(redis, queueSettingsFromEnv(env));
const app = Fastify({ logger: false });
app.post('/v1/generations', async (_request, reply) => {
  const id = `gen_${randomUUID()}`;
  await queue.add('plan', { generationId: id, tenant: 'bench' }, { jobId: id });
  return reply.code(202).send({ id, status: 'queued' });
});
const port = Number((process.env as Record<string, string | undefined>).PORT);
await app.listen({ port, host: '127.0.0.1' });
console.log(`bare submit endpoint on ${port}`);
const stop = async () => {
  await app.close();
  await queue.close();
  await closeRedis(redis);
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
