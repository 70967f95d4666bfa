import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { apiDocument, CLIENT_TYPES_PATH, renderClientTypes } from './generate-client.ts';

it('the client SDK types are generated from the API document as it is now (npm run generate:client)', async () => {
  const committed = await readFile(CLIENT_TYPES_PATH, 'utf8');
  const current = await renderClientTypes(await apiDocument());
  // A message rather than a 1700-line diff: the fix is always the same command.
  expect(
    committed === current,
    'packages/client/src/generated/openapi.ts differs from the API document: run `npm run generate:client`',
  ).toBe(true);
});
