/*
 * `npm run bench`: runs every benchmark program in bench/ (or those named as arguments),
 * one after another so they do not disturb each other's figures.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const names = process.argv.slice(2);
const all = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.ts') && f !== 'run.ts');
const chosen = names.length > 0 ? all.filter((f) => names.includes(f.replace(/\.ts$/, ''))) : all;
let failed = 0;
for (const file of chosen) {
  console.log(`\n=== bench/${file}`);
  const run = spawnSync(process.execPath, [join(import.meta.dirname, file)], { stdio: 'inherit' });
  if (run.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
