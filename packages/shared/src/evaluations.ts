/**
 * Hands a generation that succeeded to the evaluator: one `evaluate` job per generation
 * (its id is fixed, so announcing a success again adds nothing while the first job is
 * kept). The job waits in its own queue, so scoring never holds up `succeeded` and a
 * backlog of scoring never holds up generating.
 */
import type { Queue } from 'bullmq';
import type { GenerationRecord } from './generation.ts';
import { type EvaluateJobData, evaluateJobId } from './queues.ts';

export class EvaluationRequests {
  constructor(private readonly queue: Queue<EvaluateJobData>) {}

  async request(record: GenerationRecord): Promise<void> {
    await this.queue.add(
      'evaluate',
      { generationId: record.id, tenant: record.tenant },
      { jobId: evaluateJobId(record.id) },
    );
  }
}
