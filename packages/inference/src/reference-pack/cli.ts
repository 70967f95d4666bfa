/**
 * Builds model packs from code.
 *
 *   cli.ts --all model-packs                  reference, zero-cost and fixed-cost into model-packs/<name>
 *   cli.ts --out DIR [--pack zero-cost]       one pack (default: reference) into DIR
 *   --fixed-cost-work N                       the fixed-cost denoiser's work units per image-step
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPack } from './build-pack.ts';
import { PACK_NAMES, type PackName, packSpec } from './packs.ts';

const { values } = parseArgs({
  options: {
    all: { type: 'string' },
    out: { type: 'string', default: 'model-packs/reference' },
    pack: { type: 'string', default: 'reference' },
    'fixed-cost-work': { type: 'string' },
  },
});
const isPackName = (name: string): name is PackName => (PACK_NAMES as readonly string[]).includes(name);
if (!isPackName(values.pack!)) {
  console.error(`unknown pack "${values.pack}" (one of ${PACK_NAMES.join(', ')})`);
  process.exit(64);
}
const options = values['fixed-cost-work'] ? { fixedCostWork: Number(values['fixed-cost-work']) } : {};
const targets: Array<[PackName, string]> = values.all
  ? PACK_NAMES.map((name) => [name, join(resolve(values.all!), name)])
  : [[values.pack, resolve(values.out!)]];
for (const [name, dir] of targets) {
  const started = performance.now();
  const { bytes } = await buildPack(dir, packSpec(name, options));
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  console.log(`${name} model pack: ${dir} (${(bytes / 1e6).toFixed(1)} MB, ${seconds} s)`);
}
