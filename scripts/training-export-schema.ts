/**
 * Writes docs/training-export.schema.json, the JSON Schema of one training export row,
 * from the zod schemas that are the contract (packages/shared/src/training-export.ts).
 * A test fails when the committed file and the schemas drift apart; run this to update it:
 *
 *   node --import tsx scripts/training-export-schema.ts
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { TrainingRowSchema } from '../packages/shared/src/training-export.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../docs/training-export.schema.json', import.meta.url));

export function trainingExportJsonSchema(): string {
  const schema = z.toJSONSchema(TrainingRowSchema, { target: 'draft-2020-12' });
  return `${JSON.stringify({ $id: 'training-export.schema.json', title: 'Training export row', ...schema }, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(SCHEMA_PATH, trainingExportJsonSchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}
