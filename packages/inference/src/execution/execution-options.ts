import { InferenceSession } from 'onnxruntime-node';
import { ModelError } from '../errors.ts';

/** Where and how ONNX models run. */
export interface ExecutionOptions {
  /** 'cpu' (default) or 'cuda'; CUDA falls back to CPU for operators it lacks. */
  executionProvider: 'cpu' | 'cuda';
  /** Threads inside one operator; default: onnxruntime's choice (all cores). */
  intraOpThreads?: number;
  /** Threads across independent operators; default: onnxruntime's choice. */
  interOpThreads?: number;
  /** GPU index for the CUDA provider; default 0. */
  cudaDeviceId?: number;
}

export const DEFAULT_EXECUTION_OPTIONS: ExecutionOptions = { executionProvider: 'cpu' };

/** Translates our options into onnxruntime session options. */
export function sessionOptionsFor(
  options: ExecutionOptions = DEFAULT_EXECUTION_OPTIONS,
): InferenceSession.SessionOptions {
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders:
      options.executionProvider === 'cuda'
        ? [{ name: 'cuda', deviceId: options.cudaDeviceId ?? 0 }, 'cpu']
        : ['cpu'],
    graphOptimizationLevel: 'all',
  };
  if (options.intraOpThreads !== undefined) sessionOptions.intraOpNumThreads = options.intraOpThreads;
  if (options.interOpThreads !== undefined) sessionOptions.interOpNumThreads = options.interOpThreads;
  return sessionOptions;
}

/** Opens one ONNX model; a failure (missing CUDA, corrupt graph) becomes a ModelError naming the file. */
export async function openSession(path: string, options?: ExecutionOptions): Promise<InferenceSession> {
  try {
    return await InferenceSession.create(path, sessionOptionsFor(options));
  } catch (cause) {
    throw new ModelError(`cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
}
