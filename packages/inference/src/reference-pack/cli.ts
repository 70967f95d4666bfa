import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildReferencePack } from './build-pack.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'model-packs/reference' } } });
const started = performance.now();
const { dir, bytes } = await buildReferencePack(resolve(values.out!));
const seconds = ((performance.now() - started) / 1000).toFixed(2);
console.log(`reference model pack: ${dir} (${(bytes / 1e6).toFixed(1)} MB, ${seconds} s)`);
