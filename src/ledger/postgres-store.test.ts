import pg from 'pg';
import { requirePostgres } from '../../test/support/requirements.ts';
import type { LedgerStore } from './ledger-store.ts';
import { ledgerStoreSuite, testSchemaName } from './ledger-store-suite.ts';
import { openStore } from './open-store.ts';

ledgerStoreSuite('PostgreSQL', async (t) => {
  const url = requirePostgres(t);
  if (url === undefined) return undefined;
  const schema = testSchemaName();
  const opened: LedgerStore[] = [];
  t.after(async () => {
    for (const store of opened) await store.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });
  const spec = new URL(url);
  spec.searchParams.set('schema', schema);
  return {
    spec: spec.toString(),
    open: async () => {
      const store = await openStore(spec.toString());
      opened.push(store);
      return store;
    },
  };
});
