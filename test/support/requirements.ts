import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/*
 * Tests that need root, PostgreSQL or a Debian tool skip with a one-line reason on a
 * developer's machine; under CI=true a missing requirement fails the test instead, so
 * nothing goes silently untested in CI.
 */

const inCi = process.env['CI'] === 'true';

/** Skips (or, in CI, fails) the test and returns false when `reason` is set. */
function require(t: TestContext, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  if (inCi)
    throw new Error(`CI=true but ${reason}: CI must provide it (see .ci/run and scripts/setup)`);
  t.skip(reason);
  return false;
}

export function requireRoot(t: TestContext): boolean {
  return require(t, process.getuid?.() === 0
    ? undefined
    : 'needs root (namespaces, containers, WireGuard)');
}

/** The URL of a PostgreSQL server the tests may create databases on, from VDC_TEST_POSTGRES_URL. */
export function requirePostgres(t: TestContext): string | undefined {
  const url = process.env['VDC_TEST_POSTGRES_URL'];
  return require(t, url
    ? undefined
    : 'needs PostgreSQL: run scripts/test, which starts one and sets VDC_TEST_POSTGRES_URL')
    ? url
    : undefined;
}

export function requireCommand(t: TestContext, command: string): boolean {
  let missing: string | undefined;
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    missing = `needs ${command} (installed by scripts/setup)`;
  }
  return require(t, missing);
}
