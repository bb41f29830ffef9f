import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { fail } from '../core/assert.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { VdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import type { AppendBatch, LedgerStore, StoredHead } from './ledger-store.ts';
import type { EncodedLeaf } from './log-leaf.ts';
import type { SubtreeId } from './merkle-range.ts';
import { parseHead, type SignedHead } from './signed-head.ts';

/*
 * The embedded store: one SQLite file through node:sqlite. WAL with synchronous=FULL makes
 * every COMMIT reach the disk (the WAL is fsynced) before append() resolves, so an
 * acknowledged leaf survives a crash or power loss. node:sqlite is synchronous: a commit
 * blocks the event loop for its fsync, and the requests that arrive meanwhile form the next
 * group commit (log-committer.ts).
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL,
  ledger TEXT
);
INSERT OR IGNORE INTO log_state (id, size, ledger) VALUES (1, 0, NULL);
CREATE TABLE IF NOT EXISTS leaves (
  seq INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  time INTEGER NOT NULL,
  head TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS heads_by_size ON heads (size, time);
`;

function blob(value: SQLOutputValue | undefined): Buffer {
  if (!(value instanceof Uint8Array)) fail('STORE_CORRUPT', 'a hash or leaf column holds no bytes');
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function num(value: SQLOutputValue | undefined): number {
  if (typeof value !== 'number') fail('STORE_CORRUPT', 'a numeric column holds no number');
  return value;
}

class SqliteStore implements LedgerStore {
  readonly description: string;
  private db: DatabaseSync | undefined;
  private readonly stmt: Record<string, StatementSync>;

  constructor(path: string) {
    this.description = `sqlite:${path}`;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path, { timeout: 5000 });
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
      this.db.exec(SCHEMA);
    } catch (cause) {
      this.db?.close();
      fail(
        'STORE_UNAVAILABLE',
        `cannot open the SQLite ledger store ${path}: ${(cause as Error).message}`,
        cause,
      );
    }
    const db = this.db;
    this.stmt = {
      state: db.prepare('SELECT size, ledger FROM log_state WHERE id = 1'),
      claim: db.prepare('UPDATE log_state SET ledger = ? WHERE id = 1 AND ledger IS NULL'),
      advance: db.prepare('UPDATE log_state SET size = ? WHERE id = 1 AND size = ?'),
      leaf: db.prepare('INSERT INTO leaves (seq, hash, bytes) VALUES (?, ?, ?)'),
      node: db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      head: db.prepare('INSERT INTO heads (size, time, head) VALUES (?, ?, ?)'),
      leaves: db.prepare(
        'SELECT seq, hash, bytes FROM leaves WHERE seq >= ? AND seq < ? ORDER BY seq',
      ),
      leafHash: db.prepare('SELECT hash FROM leaves WHERE seq = ?'),
      nodeHash: db.prepare('SELECT hash FROM nodes WHERE level = ? AND idx = ?'),
      latest: db.prepare('SELECT head FROM heads ORDER BY size DESC, time DESC, id DESC LIMIT 1'),
      heads: db.prepare('SELECT id, head FROM heads WHERE id > ? ORDER BY id LIMIT ?'),
    };
  }

  private open(): DatabaseSync {
    if (this.db === undefined) fail('STORE_CLOSED', `the store ${this.description} is closed`);
    return this.db;
  }

  private state(): { size: number; ledger: string | null } {
    this.open();
    const row = this.stmt['state']!.get();
    return { size: num(row?.['size']), ledger: (row?.['ledger'] as string | null) ?? null };
  }

  async claim(ledger: string): Promise<void> {
    this.open();
    this.stmt['claim']!.run(ledger);
    const bound = this.state().ledger;
    if (bound !== ledger)
      fail(
        'STORE_LEDGER_MISMATCH',
        `the store ${this.description} holds the log of ledger ${bound}, not of ${ledger}: use that ledger's key or another store`,
      );
  }

  async size(): Promise<number> {
    return this.state().size;
  }

  async append(batch: AppendBatch): Promise<void> {
    const db = this.open();
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        this.write(batch);
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      if (err instanceof VdcError) throw err;
      // A row already there means the log and its state disagree: someone else wrote here.
      const conflict = /constraint/i.test((err as Error).message);
      fail(
        conflict ? 'STORE_CONFLICT' : 'STORE_UNAVAILABLE',
        `cannot append to ${this.description}: ${(err as Error).message}`,
        err,
      );
    }
  }

  private write(batch: AppendBatch): void {
    const first = batch.leaves[0]?.seq ?? this.state().size;
    batch.leaves.forEach((leaf, i) => {
      if (leaf.seq !== first + i)
        fail('INTERNAL', `batch leaves are not consecutive at seq ${leaf.seq}`);
    });
    const next = first + batch.leaves.length;
    const moved = this.stmt['advance']!.run(next, first);
    if (moved.changes !== 1)
      fail(
        'STORE_CONFLICT',
        `the store ${this.description} no longer ends at seq ${first}: another writer appended to it; reopen the ledger`,
      );
    for (const leaf of batch.leaves) this.stmt['leaf']!.run(leaf.seq, leaf.hash, leaf.bytes);
    for (const node of batch.nodes) this.stmt['node']!.run(node.level, node.index, node.hash);
    for (const head of batch.heads) this.insertHead(head);
  }

  private insertHead(head: SignedHead): void {
    this.stmt['head']!.run(head.size, head.time, canonicalize(head));
  }

  async readLeaves(from: number, to: number): Promise<EncodedLeaf[]> {
    this.open();
    return this.stmt['leaves']!.all(from, to).map((row) => ({
      seq: num(row['seq']),
      hash: blob(row['hash']),
      bytes: blob(row['bytes']),
    }));
  }

  async readSubtrees(ids: readonly SubtreeId[]): Promise<Buffer[]> {
    this.open();
    return ids.map(({ level, index }) => {
      const row =
        level === 0 ? this.stmt['leafHash']!.get(index) : this.stmt['nodeHash']!.get(level, index);
      if (row === undefined)
        fail(
          'STORE_CORRUPT',
          `the store ${this.description} lacks the subtree at level ${level}, index ${index}`,
        );
      return blob(row['hash']);
    });
  }

  async latestHead(): Promise<SignedHead | undefined> {
    this.open();
    const row = this.stmt['latest']!.get();
    return row === undefined ? undefined : parseHead(parseJson(String(row['head'])));
  }

  async readHeads(afterId: number, limit: number): Promise<StoredHead[]> {
    this.open();
    return this.stmt['heads']!.all(afterId, limit).map((row) => ({
      id: num(row['id']),
      json: String(row['head']),
    }));
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

/**
 * Opens (creating if needed) the SQLite store at `path`.
 * @throws VdcError STORE_UNAVAILABLE when the file cannot be opened or is not a ledger store
 */
export function openSqliteStore(path: string): LedgerStore {
  return new SqliteStore(path);
}
