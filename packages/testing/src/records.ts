/** Generation records as admission stores them, for tests that create them directly. */
import type { GenerationInput, GenerationRecord } from '@glm-image/shared/generation';

let counter = 0;

/**
 * A queued record with a fresh id (`gen_test_<n>` unless `overrides.id` names one) and a
 * small 512x512 input; `input` overrides merge into the default input.
 */
export function queuedRecord(
  overrides: Partial<Omit<GenerationRecord, 'input'>> & { input?: Partial<GenerationInput> } = {},
): GenerationRecord {
  counter += 1;
  const { input, ...rest } = overrides;
  return {
    id: `gen_test_${process.pid}_${counter}`,
    tenant: 'acme',
    status: 'queued',
    created_at: new Date().toISOString(),
    input: {
      prompt: 'a red circle on a blue background',
      width: 512,
      height: 512,
      seed: 1,
      steps: 2,
      guidance_scale: 1.5,
      temperature: 0.9,
      top_p: 0.75,
      n: 1,
      output_format: 'png',
      ...input,
    },
    progress: { stage: 'queued' },
    outputs: [],
    timings: {},
    ...rest,
  };
}
