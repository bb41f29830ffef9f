import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LedgerStore } from './ledger-store.ts';
import { ledgerStoreSuite } from './ledger-store-suite.ts';
import { openStore } from './open-store.ts';

ledgerStoreSuite('SQLite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-ledger-'));
  const opened: LedgerStore[] = [];
  t.after(async () => {
    for (const store of opened) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const spec = `sqlite:${join(dir, 'ledger.db')}`;
  return {
    spec,
    open: async () => {
      const store = await openStore(spec);
      opened.push(store);
      return store;
    },
  };
});
