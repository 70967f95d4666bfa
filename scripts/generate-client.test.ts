import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import {
  apiDocument,
  CLIENT_TYPES_PATH,
  renderClientTypes,
  renderTrainingRowTypes,
  TRAINING_ROW_TYPES_PATH,
} from './generate-client.ts';

it('the client SDK types are generated from the API document as it is now (npm run generate:client)', async () => {
  const committed = await readFile(CLIENT_TYPES_PATH, 'utf8');
  const current = await renderClientTypes(await apiDocument());
  // A message rather than a 1700-line diff: the fix is always the same command.
  expect(
    committed === current,
    'packages/client/src/generated/openapi.ts differs from the API document: run `npm run generate:client`',
  ).toBe(true);
});

it("the client SDK's training row types are generated from the row schema as it is now", async () => {
  const committed = await readFile(TRAINING_ROW_TYPES_PATH, 'utf8');
  expect(
    committed === (await renderTrainingRowTypes()),
    'packages/client/src/generated/training-export.ts differs from the row schema: run `npm run generate:client`',
  ).toBe(true);
});
