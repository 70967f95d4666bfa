/**
 * The evaluator worker: consumes `evaluate`, scores each stage of a generation that
 * succeeded and writes the scores onto it. Off the request path: a generation is
 * `succeeded` before its evaluate job exists, so a slow or stopped evaluator delays
 * nothing but the scores. A factory, so that tests run it in-process.
 */
import { ImageScorers, loadModelPack } from '@glm-image/inference';
import type { EvaluatorEnv } from '@glm-image/shared/env';
import {
  consumeQueue,
  createWorkerRuntime,
  executionOptionsFromEnv,
  type StageWorker,
} from '@glm-image/worker-runtime';
import { runEvaluateJob } from './evaluate-job.ts';
import { OcrEngine } from './scorers/ocr-engine.ts';

export async function createEvaluatorWorker(env: EvaluatorEnv): Promise<StageWorker> {
  const runtime = await createWorkerRuntime('evaluator-worker', env);
  try {
    const pack = await loadModelPack(env.MODEL_PACK_PATH);
    const ocr = await OcrEngine.start();
    runtime.onClose(() => ocr.close());
    const scorers = await ImageScorers.load(pack, executionOptionsFromEnv(env));
    if (scorers) runtime.onClose(() => scorers.close());
    const builtins = (pack.manifest.scorers ?? []).flatMap((entry) =>
      entry.type === 'builtin' ? [entry] : [],
    );
    return await consumeQueue(
      runtime,
      'evaluate',
      (job) => runEvaluateJob({ ...runtime, ocr, scorers, builtins }, job),
      // A scoring that fails for good leaves its generation as it ended.
      { failsGeneration: false },
    );
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
