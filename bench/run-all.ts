/**
 * Every benchmark, one after another, each in a process of its own so that none inherits
 * another's warm caches or threads. Each script follows the protocol in
 * support/report.ts: it prints a markdown table against its own baseline, run side by
 * side, and writes its result as JSON to the file named by BENCH_JSON_OUT. At the end
 * this prints one JSON document with every result, then every table.
 *
 *   npm run bench                      every benchmark with its default parameters
 *   npm run bench -- --only decoder-saturation,decoder-batching
 *   npm run bench -- --json out/bench.json   also write the combined JSON there
 *
 * Scripts listed here that do not exist in this checkout are skipped, so that a branch
 * carrying only some of them runs on its own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchReport } from './support/report.ts';

/** Script, and the arguments that size it to run within minutes on two cores. */
const BENCHMARKS: Array<[script: string, args: string[]]> = [
  ['submit-throughput.ts', []],
  ['submit-backlog.ts', []],
  ['pipeline-overhead.ts', []],
  ['decoder-saturation.ts', []],
  ['decoder-batching.ts', []],
  ['decoder-steps.ts', []],
  ['image-to-image.ts', []],
  ['planner-kv-cache.ts', []],
  ['planner-sampling.ts', []],
  ['planner-batching.ts', []],
  ['sse-watchers.ts', []],
  ['evaluator-scoring.ts', []],
];

const { values } = parseArgs({ options: { only: { type: 'string' }, json: { type: 'string' } } });
const only = values.only?.split(',').map((name) => name.replace(/\.ts$/, ''));
const here = fileURLToPath(new URL('.', import.meta.url));
const scratch = await mkdtemp(join(tmpdir(), 'glm-bench-'));

interface Outcome {
  script: string;
  seconds: number;
  status: 'ok' | 'failed';
  exit?: number | string;
  report?: BenchReport;
}

const outcomes: Outcome[] = [];
const startedAt = new Date().toISOString();
try {
  for (const [script, args] of BENCHMARKS) {
    if (only && !only.includes(script.replace(/\.ts$/, ''))) continue;
    if (!existsSync(join(here, script))) continue;
    console.log(`\n## ${script}\n`);
    const out = join(scratch, `${script}.json`);
    const started = performance.now();
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_JSON_OUT: out },
    });
    const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
    const report = existsSync(out) ? (JSON.parse(await readFile(out, 'utf8')) as BenchReport) : undefined;
    if (run.status !== 0 || !report) {
      console.error(
        `${script} failed (exit ${run.status ?? run.signal}${report ? '' : ', no result written'})`,
      );
      outcomes.push({ script, seconds, status: 'failed', exit: run.status ?? String(run.signal) });
    } else {
      outcomes.push({ script, seconds, status: 'ok', report });
    }
  }

  const document = {
    started_at: startedAt,
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model,
      node: process.version,
      load_average: loadavg(),
    },
    benchmarks: outcomes,
  };
  const json = JSON.stringify(document, null, 2);
  if (values.json) await writeFile(values.json, `${json}\n`);
  console.log('\n# All results (JSON)\n');
  console.log(json);
  console.log('\n# All results (tables)\n');
  for (const { script, seconds, status, report } of outcomes) {
    console.log(`## ${report?.benchmark ?? script} (${status}, ${seconds} s)\n`);
    if (!report) continue;
    console.log(`\`${report.command}\`\n`);
    console.log(`${report.table}\n`);
    for (const goal of report.goals ?? []) {
      console.log(`- goal ${goal.figure} ${goal.target}: ${goal.value} ${goal.met ? '(met)' : '(NOT met)'}`);
    }
    for (const note of report.notes ?? []) console.log(`- ${note}`);
    console.log('');
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
process.exit(outcomes.some((o) => o.status === 'failed') ? 1 : 0);
