import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** One measured row: a name and its figures. */
export type BenchRow = Record<string, string | number>;

/** Prints rows as an aligned text table. */
export function printTable(title: string, rows: BenchRow[]): void {
  const first = rows[0];
  if (!first) return;
  const columns = Object.keys(first);
  const cell = (v: string | number | undefined) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? '');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] ?? 0)).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
}

/** Writes bench/results/NAME.json with the machine it ran on. */
export function writeResults(name: string, results: unknown): string {
  const dir = join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    arch: arch(),
    memoryBytes: totalmem(),
    node: process.version,
  };
  writeFileSync(
    path,
    `${JSON.stringify({ name, date: new Date().toISOString(), machine, results }, null, 2)}\n`,
  );
  return path;
}
