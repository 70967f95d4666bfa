export * from './env.ts';
export * from './errors.ts';
export * from './generation.ts';
export * from './generation-store.ts';
export * from './queues.ts';
export * from './redis.ts';
export * from './storage.ts';
