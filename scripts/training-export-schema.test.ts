import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import {
  DecodePreferenceRowSchema,
  DecodeRowSchema,
  PlanRowSchema,
} from '../packages/shared/src/training-export.ts';
import { SCHEMA_PATH, trainingExportJsonSchema } from './training-export-schema.ts';

/** The documented schema of the training export is the one the code validates rows with. */

it('keeps docs/training-export.schema.json generated from the row schemas', async () => {
  const committed = await readFile(SCHEMA_PATH, 'utf8');
  expect(committed, 'run: node --import tsx scripts/training-export-schema.ts').toBe(
    trainingExportJsonSchema(),
  );
});

it('documents every field of every row kind in docs/training-export.md', async () => {
  const doc = await readFile(fileURLToPath(new URL('../docs/training-export.md', import.meta.url)), 'utf8');
  for (const schema of [PlanRowSchema, DecodeRowSchema, DecodePreferenceRowSchema]) {
    const kind = schema.shape.kind.value;
    const section = doc.split(/^### /m).find((part) => part.startsWith(`\`${kind}\``));
    expect(section, `a "### \`${kind}\`" section`).toBeDefined();
    for (const field of Object.keys(schema.shape))
      expect(section, `${kind}.${field}`).toContain(`| \`${field}\``);
  }
});
