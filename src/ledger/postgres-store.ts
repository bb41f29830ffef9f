import pg from 'pg';
import { fail } from '../core/assert.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { parseJson } from '../core/strict-json.ts';
import type { AppendBatch, LedgerStore, StoredHead } from './ledger-store.ts';
import type { EncodedLeaf } from './log-leaf.ts';
import type { SubtreeId } from './merkle-range.ts';
import { parseHead, type SignedHead } from './signed-head.ts';

/*
 * The store for a ledger that serves many machines: PostgreSQL through `pg`, one schema per
 * store, created on open. A batch is one transaction whose COMMIT returns only after the
 * WAL is flushed (synchronous_commit, on by default), and rows are written with one
 * statement per table (unnest of arrays), so a group commit costs a fixed number of round
 * trips however many leaves it holds. Proof lookups are one query for all their subtrees.
 */

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.log_state (
  id int PRIMARY KEY CHECK (id = 1),
  size bigint NOT NULL,
  ledger text
);
INSERT INTO ${s}.log_state (id, size, ledger) VALUES (1, 0, NULL) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ${s}.leaves (
  seq bigint PRIMARY KEY,
  hash bytea NOT NULL,
  bytes bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.nodes (
  level smallint NOT NULL,
  idx bigint NOT NULL,
  hash bytea NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS ${s}.heads (
  id bigserial PRIMARY KEY,
  size bigint NOT NULL,
  time bigint NOT NULL,
  head text NOT NULL
);
CREATE INDEX IF NOT EXISTS heads_by_size ON ${s}.heads (size, time);
`;
}

function unavailable(description: string, cause: unknown): never {
  fail(
    'STORE_UNAVAILABLE',
    `the PostgreSQL ledger store ${description} failed: ${(cause as Error).message}; check that the server is up and reachable`,
    cause,
  );
}

class PostgresStore implements LedgerStore {
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly s: string;
  private closed = false;

  constructor(pool: pg.Pool, schema: string, description: string) {
    this.pool = pool;
    this.s = schema;
    this.description = description;
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    client: pg.Pool | pg.PoolClient = this.pool,
    name?: string,
  ): Promise<pg.QueryResult<R>> {
    if (this.closed) fail('STORE_CLOSED', `the store ${this.description} is closed`);
    try {
      // A named statement is parsed and planned once per connection: proofs run it hot.
      return await client.query<R>(
        name === undefined
          ? { text: sql, values: params }
          : { name: `${this.s}_${name}`, text: sql, values: params },
      );
    } catch (cause) {
      // unique_violation: a row already there means someone else wrote to this log.
      if ((cause as { code?: string }).code === '23505')
        fail(
          'STORE_CONFLICT',
          `cannot append to ${this.description}: ${(cause as Error).message}`,
          cause,
        );
      unavailable(this.description, cause);
    }
  }

  async init(): Promise<void> {
    const client = await this.pool.connect().catch((cause) => unavailable(this.description, cause));
    try {
      // Two stores opening one schema at once would race on CREATE ... IF NOT EXISTS.
      await this.query('BEGIN', [], client);
      await this.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.s], client);
      await this.query(schemaSql(this.s), [], client);
      await this.query('COMMIT', [], client);
    } finally {
      client.release();
    }
  }

  async claim(ledger: string): Promise<void> {
    await this.query(`UPDATE ${this.s}.log_state SET ledger = $1 WHERE id = 1 AND ledger IS NULL`, [
      ledger,
    ]);
    const { rows } = await this.query<{ ledger: string | null }>(
      `SELECT ledger FROM ${this.s}.log_state WHERE id = 1`,
    );
    const bound = rows[0]?.ledger ?? null;
    if (bound !== ledger)
      fail(
        'STORE_LEDGER_MISMATCH',
        `the store ${this.description} holds the log of ledger ${bound}, not of ${ledger}: use that ledger's key or another schema`,
      );
  }

  async size(): Promise<number> {
    const { rows } = await this.query<{ size: string }>(
      `SELECT size FROM ${this.s}.log_state WHERE id = 1`,
    );
    return Number(rows[0]?.size ?? 0);
  }

  async append(batch: AppendBatch): Promise<void> {
    if (this.closed) fail('STORE_CLOSED', `the store ${this.description} is closed`);
    const client = await this.pool.connect().catch((cause) => unavailable(this.description, cause));
    let done = false;
    try {
      await this.query('BEGIN', [], client);
      await this.write(batch, client);
      await this.query('COMMIT', [], client);
      done = true;
    } finally {
      if (!done) await client.query('ROLLBACK').catch(() => undefined); // the error that got us here is the one to report
      client.release();
    }
  }

  private async write(batch: AppendBatch, client: pg.PoolClient): Promise<void> {
    const s = this.s;
    const first = batch.leaves[0]?.seq ?? (await this.size());
    batch.leaves.forEach((leaf, i) => {
      if (leaf.seq !== first + i)
        fail('INTERNAL', `batch leaves are not consecutive at seq ${leaf.seq}`);
    });
    const moved = await this.query(
      `UPDATE ${s}.log_state SET size = $1 WHERE id = 1 AND size = $2`,
      [first + batch.leaves.length, first],
      client,
    );
    if (moved.rowCount !== 1)
      fail(
        'STORE_CONFLICT',
        `the store ${this.description} no longer ends at seq ${first}: another writer appended to it; reopen the ledger`,
      );
    if (batch.leaves.length > 0)
      await this.query(
        `INSERT INTO ${s}.leaves (seq, hash, bytes) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])`,
        [
          batch.leaves.map((l) => l.seq),
          batch.leaves.map((l) => l.hash),
          batch.leaves.map((l) => l.bytes),
        ],
        client,
      );
    if (batch.nodes.length > 0)
      await this.query(
        `INSERT INTO ${s}.nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`,
        [
          batch.nodes.map((n) => n.level),
          batch.nodes.map((n) => n.index),
          batch.nodes.map((n) => n.hash),
        ],
        client,
      );
    if (batch.heads.length > 0) await this.insertHeads(batch.heads, client);
  }

  private async insertHeads(
    heads: readonly SignedHead[],
    client: pg.Pool | pg.PoolClient,
  ): Promise<void> {
    await this.query(
      `INSERT INTO ${this.s}.heads (size, time, head) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])`,
      [heads.map((h) => h.size), heads.map((h) => h.time), heads.map((h) => canonicalize(h))],
      client,
    );
  }

  async readLeaves(from: number, to: number): Promise<EncodedLeaf[]> {
    const { rows } = await this.query<{ seq: string; hash: Buffer; bytes: Buffer }>(
      `SELECT seq, hash, bytes FROM ${this.s}.leaves WHERE seq >= $1 AND seq < $2 ORDER BY seq`,
      [from, to],
    );
    return rows.map((r) => ({ seq: Number(r.seq), hash: r.hash, bytes: r.bytes }));
  }

  async readSubtrees(ids: readonly SubtreeId[]): Promise<Buffer[]> {
    const s = this.s;
    const { rows } = await this.query<{ hash: Buffer | null }>(
      `SELECT coalesce(l.hash, n.hash) AS hash
       FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
       LEFT JOIN ${s}.leaves l ON q.level = 0 AND l.seq = q.idx
       LEFT JOIN ${s}.nodes n ON q.level > 0 AND n.level = q.level AND n.idx = q.idx
       ORDER BY q.ord`,
      [ids.map((i) => i.level), ids.map((i) => i.index)],
      this.pool,
      'subtrees',
    );
    return rows.map((r, i) => {
      if (r.hash === null) {
        const id = ids[i]!;
        fail(
          'STORE_CORRUPT',
          `the store ${this.description} lacks the subtree at level ${id.level}, index ${id.index}`,
        );
      }
      return r.hash;
    });
  }

  async latestHead(): Promise<SignedHead | undefined> {
    const { rows } = await this.query<{ head: string }>(
      `SELECT head FROM ${this.s}.heads ORDER BY size DESC, time DESC, id DESC LIMIT 1`,
    );
    const row = rows[0];
    return row === undefined ? undefined : parseHead(parseJson(row.head));
  }

  async readHeads(afterId: number, limit: number): Promise<StoredHead[]> {
    const { rows } = await this.query<{ id: string; head: string }>(
      `SELECT id, head FROM ${this.s}.heads WHERE id > $1 ORDER BY id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map((r) => ({ id: Number(r.id), json: r.head }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

export interface PostgresStoreOptions {
  /** a libpq-style URL, e.g. postgres://user@host:5432/db */
  connectionString: string;
  /** the schema holding this ledger's tables; created if absent */
  schema: string;
  /** connections in the pool (appends use one at a time; proofs and reads the rest) */
  maxConnections?: number;
}

/**
 * Opens (creating the schema and tables if needed) a PostgreSQL store.
 * @throws VdcError STORE_SPEC_INVALID for a bad schema name, STORE_UNAVAILABLE when the
 *   server cannot be reached or refuses
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<LedgerStore> {
  if (!SCHEMA_NAME.test(options.schema))
    fail(
      'STORE_SPEC_INVALID',
      `the schema name must be 1..63 characters of a-z, 0-9 and _, not starting with a digit; got ${JSON.stringify(options.schema)}`,
    );
  // Host, port and database only: a password may hide in the query string as well as in the userinfo.
  const url = new URL(options.connectionString);
  const description = `postgres://${url.host}${url.pathname} (schema ${options.schema})`;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 4,
  });
  // An idle connection dropped by the server must not crash the process: the next query reports it.
  pool.on('error', () => undefined);
  const store = new PostgresStore(pool, options.schema, description);
  try {
    await store.init();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return store;
}
