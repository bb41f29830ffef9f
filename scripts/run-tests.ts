/*
 * Runs every test (`*.test.ts` under src/ and test/) with node's test runner, or only the
 * files given as arguments. Under CI=true a skipped test fails the run: CI provides root,
 * PostgreSQL and the Debian tools, so nothing may go silently untested there.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const files = process.argv.slice(2);
const patterns = files.length > 0 ? files : ['src/**/*.test.ts', 'test/**/*.test.ts'];
const dir = mkdtempSync(join(tmpdir(), 'vdc-tests-'));
const tap = join(dir, 'report.tap');
const concurrency = process.env['VDC_TEST_CONCURRENCY'] ?? '4';

const run = spawnSync(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...patterns,
  ],
  { stdio: 'inherit' },
);
const report = readFileSync(tap, 'utf8');
rmSync(dir, { recursive: true, force: true });
const count = (name: string) =>
  Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
const [pass, fail, skipped, cancelled] = ['pass', 'fail', 'skipped', 'cancelled'].map(count) as [
  number,
  number,
  number,
  number,
];
// A test that ran out of time is reported as cancelled, not failed: count it where it shows.
console.log(
  `${pass} passed, ${fail} failed, ${skipped} skipped${cancelled ? `, ${cancelled} cancelled (timed out or aborted)` : ''}`,
);
if (cancelled > 0 && run.status === 0) process.exit(1);
if (process.env['CI'] === 'true' && skipped > 0) {
  console.error(`CI=true: ${skipped} test(s) skipped; CI must run every test`);
  process.exit(1);
}
process.exit(run.status ?? 1);
