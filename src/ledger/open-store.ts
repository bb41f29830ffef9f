import { fail } from '../core/assert.ts';
import type { LedgerStore } from './ledger-store.ts';
import { openPostgresStore } from './postgres-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

/** The schema a PostgreSQL store uses when the URL names none (`?schema=NAME`). */
export const DEFAULT_POSTGRES_SCHEMA = 'vdc_ledger';

/**
 * Opens the store a `--store` flag names: `sqlite:PATH`, or `postgres://…` /
 * `postgresql://…` with an optional `schema=NAME` query parameter (default vdc_ledger).
 * @throws VdcError STORE_SPEC_INVALID, STORE_UNAVAILABLE
 */
export async function openStore(spec: string): Promise<LedgerStore> {
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '')
      fail('STORE_SPEC_INVALID', `'--store' sqlite:PATH needs a path, got ${JSON.stringify(spec)}`);
    return openSqliteStore(path);
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch (cause) {
      fail('STORE_SPEC_INVALID', `'--store' is not a valid PostgreSQL URL`, cause);
    }
    const schema = url.searchParams.get('schema') ?? DEFAULT_POSTGRES_SCHEMA;
    url.searchParams.delete('schema');
    return openPostgresStore({ connectionString: url.toString(), schema });
  }
  fail(
    'STORE_SPEC_INVALID',
    `'--store' must be sqlite:PATH or postgres://USER@HOST:PORT/DB[?schema=NAME], got ${JSON.stringify(spec)}`,
  );
}
