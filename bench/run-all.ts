/**
 * Every benchmark, one after another, each in a process of its own so that none inherits
 * another's warm caches or threads. Each prints its figures against its own baseline,
 * run side by side; see BENCHMARKS.md for what they measure and the figures recorded.
 *
 *   npm run bench
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['submit-backlog.ts', 'planner-kv-cache.ts', 'decoder-steps.ts', 'image-to-image.ts'];
const here = fileURLToPath(new URL('.', import.meta.url));

let failed = 0;
for (const script of BENCHMARKS) {
  console.log(`\n## ${script}\n`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', `${here}${script}`], { stdio: 'inherit' });
  if (run.status !== 0) {
    failed += 1;
    console.error(`${script} failed (exit ${run.status ?? run.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
