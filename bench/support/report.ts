/**
 * The protocol every benchmark follows: a standalone script that prints its figures as a
 * markdown table and, when BENCH_JSON_OUT names a file, writes the same result there as
 * JSON (bench/run-all.ts sets it for each script and joins the results). Every figure is
 * compared with a baseline run side by side in the same run.
 */
import { writeFile } from 'node:fs/promises';

export interface BenchGoal {
  /** What is judged, e.g. "overhead p50". */
  figure: string;
  /** The target, in words: "≥ 0.7", "≤ 10 ms". */
  target: string;
  value: number;
  met: boolean;
}

export interface BenchReport {
  /** A title, e.g. "Decoder: duty cycle under saturation". */
  benchmark: string;
  /** How to run this benchmark on its own. */
  command: string;
  parameters: Record<string, unknown>;
  /** Every figure, flat, with its unit in the name (`p50_ms`, `generations_per_second`). */
  figures: Record<string, number | string>;
  goals?: BenchGoal[];
  /** One markdown table (or several, separated by blank lines) for people. */
  table: string;
  notes?: string[];
}

export async function publish(report: BenchReport): Promise<void> {
  console.log(`### ${report.benchmark}\n`);
  console.log(`\`${report.command}\`\n`);
  console.log(report.table);
  for (const goal of report.goals ?? []) {
    console.log(`- goal ${goal.figure} ${goal.target}: ${goal.value} ${goal.met ? '(met)' : '(NOT met)'}`);
  }
  for (const note of report.notes ?? []) console.log(`- ${note}`);
  const env: Record<string, string | undefined> = process.env;
  const out = env.BENCH_JSON_OUT;
  if (out) await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
}

export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const cell = (value: string | number) => String(value);
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function goal(figure: string, value: number, target: '≥' | '≤', bound: number, unit = ''): BenchGoal {
  return {
    figure,
    target: `${target} ${bound}${unit}`,
    value,
    met: target === '≥' ? value >= bound : value <= bound,
  };
}
