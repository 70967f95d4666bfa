import type { WorkerEnv } from '@glm-image/shared/env';

/** How this worker's models run, from its environment (the model runtime's ExecutionOptions). */
export function executionOptionsFromEnv(env: WorkerEnv): {
  executionProvider: 'cpu' | 'cuda';
  intraOpThreads?: number;
  interOpThreads?: number;
  cudaDeviceId: number;
} {
  return {
    executionProvider: env.EXECUTION_PROVIDER,
    ...(env.INTRA_OP_THREADS !== undefined ? { intraOpThreads: env.INTRA_OP_THREADS } : {}),
    ...(env.INTER_OP_THREADS !== undefined ? { interOpThreads: env.INTER_OP_THREADS } : {}),
    cudaDeviceId: env.CUDA_DEVICE_ID,
  };
}
