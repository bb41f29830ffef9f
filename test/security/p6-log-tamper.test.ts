import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it, type TestContext } from 'node:test';
import { canonicalize } from '../../src/core/canonical-json.ts';
import { VdcError } from '../../src/core/errors.ts';
import { privateKeyFromSeed, rawPublicKey } from '../../src/core/keys.ts';
import type { LedgerStore } from '../../src/ledger/ledger-store.ts';
import { auditLog } from '../../src/ledger/log-audit.ts';
import { LogCommitter } from '../../src/ledger/log-committer.ts';
import { encodeLeaf, parseLeafBytes } from '../../src/ledger/log-leaf.ts';
import { hashLeaf } from '../../src/ledger/merkle-hash.ts';
import { MemoryMerkleTree } from '../../src/ledger/merkle-memory-tree.ts';
import { signHead } from '../../src/ledger/signed-head.ts';
import { openSqliteStore } from '../../src/ledger/sqlite-store.ts';

/*
 * P6: a ledger store edited behind the ledger's back. `vdc ledger verify` rests on
 * auditLog, which must name the first entry that can no longer be trusted, with the code
 * of what is wrong, and must itself change nothing.
 */

const KEY = privateKeyFromSeed('ed25519', Buffer.alloc(32, 3));
const PUBLIC = rawPublicKey(KEY);
const SIZE = 40;

async function makeLog(t: TestContext): Promise<{ path: string; reopen: () => LedgerStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'vdc-p6-'));
  const path = join(dir, 'ledger.db');
  const opened: LedgerStore[] = [];
  t.after(async () => {
    for (const s of opened) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = openSqliteStore(path);
  const committer = await LogCommitter.open(store, { ledgerKey: KEY });
  for (let n = 0; n < SIZE; n += 4)
    await committer.append(
      [0, 1, 2, 3].map((i) => ({
        acceptedAt: 1_700_000_000_000 + n + i,
        tx: { type: 'test', n: n + i },
        sig: 'ab',
      })),
    );
  await store.close();
  return {
    path,
    reopen: () => {
      const s = openSqliteStore(path);
      opened.push(s);
      return s;
    },
  };
}

function edit(path: string, sql: string, ...params: (string | number | Uint8Array)[]): void {
  const db = new DatabaseSync(path);
  db.prepare(sql).run(...params);
  db.close();
}

function leafRow(path: string, seq: number): Buffer {
  const db = new DatabaseSync(path);
  const row = db.prepare('SELECT bytes FROM leaves WHERE seq = ?').get(seq);
  db.close();
  return Buffer.from(row!['bytes'] as Uint8Array);
}

/** Everything the store holds, to show the audit changed nothing. */
async function snapshot(store: LedgerStore): Promise<string> {
  const size = await store.size();
  const leaves = await store.readLeaves(0, size + 10);
  const heads = await store.readHeads(0, 10_000);
  const h = createHash('sha256');
  for (const l of leaves) h.update(l.bytes).update(l.hash);
  for (const r of heads) h.update(r.json);
  return `${size}:${h.digest('hex')}`;
}

async function audit(store: LedgerStore, options = {}) {
  const before = await snapshot(store);
  const report = await auditLog(store, PUBLIC, options);
  assert.equal(await snapshot(store), before, 'the audit changed the store');
  return report;
}

describe('P6 offline audit of a tampered ledger store', () => {
  it('passes an untouched log', async (t) => {
    const log = await makeLog(t);
    const report = await audit(log.reopen());
    assert.equal(report.ok, true);
    assert.equal(report.checked, SIZE);
    assert.equal(report.heads, SIZE / 4);
  });

  it('names a leaf whose bytes were edited in SQLite', async (t) => {
    const log = await makeLog(t);
    const bytes = leafRow(log.path, 17).toString().replace('"n":17', '"n":99');
    edit(log.path, 'UPDATE leaves SET bytes = ? WHERE seq = 17', Buffer.from(bytes));
    const report = await audit(log.reopen());
    assert.equal(report.ok, false);
    assert.equal(report.finding?.seq, 17);
    assert.equal(report.finding?.code, 'LOG_LEAF_HASH_MISMATCH');
    assert.equal(report.checked, 17);
  });

  it('names a leaf edited together with its stored hash', async (t) => {
    const log = await makeLog(t);
    const leaf = parseLeafBytes(leafRow(log.path, 22));
    const forged = encodeLeaf({ ...leaf, acceptedAt: leaf.acceptedAt + 1 });
    edit(
      log.path,
      'UPDATE leaves SET bytes = ?, hash = ? WHERE seq = 22',
      forged.bytes,
      forged.hash,
    );
    const report = await audit(log.reopen());
    assert.equal(report.ok, false);
    assert.equal(report.finding?.seq, 22);
    assert.equal(report.finding?.code, 'LOG_NODE_MISMATCH');
    assert.match(report.finding!.reason, /leaves 22\.\.23/);
  });

  it('catches a leaf rewritten with its hash and every interior node, by the signed heads', async (t) => {
    const log = await makeLog(t);
    const leaf = parseLeafBytes(leafRow(log.path, 22));
    const forged = encodeLeaf({ ...leaf, tx: { type: 'test', n: 1000 } });
    edit(
      log.path,
      'UPDATE leaves SET bytes = ?, hash = ? WHERE seq = 22',
      forged.bytes,
      forged.hash,
    );
    const tree = new MemoryMerkleTree();
    for (let seq = 0; seq < SIZE; seq++) tree.appendHash(hashLeaf(leafRow(log.path, seq)));
    const db = new DatabaseSync(log.path);
    for (const row of db.prepare('SELECT level, idx FROM nodes').all()) {
      const id = { level: Number(row['level']), index: Number(row['idx']) };
      db.prepare('UPDATE nodes SET hash = ? WHERE level = ? AND idx = ?').run(
        tree.read([id])[0]!,
        id.level,
        id.index,
      );
    }
    db.close();
    const report = await audit(log.reopen());
    assert.equal(report.finding?.code, 'LOG_HEAD_ROOT_MISMATCH');
    // heads were signed every 4 leaves: the head of size 24 no longer holds, the one of 20 does
    assert.equal(report.finding?.seq, 20);
    assert.match(report.finding!.reason, /seq 20\.\.23/);
  });

  it('names a leaf whose seq was rewritten, and one moved back in time', async (t) => {
    const log = await makeLog(t);
    const leaf = parseLeafBytes(leafRow(log.path, 9));
    const renumbered = encodeLeaf({ ...leaf, seq: 10 });
    edit(
      log.path,
      'UPDATE leaves SET bytes = ?, hash = ? WHERE seq = 9',
      renumbered.bytes,
      renumbered.hash,
    );
    let report = await audit(log.reopen());
    assert.deepEqual([report.finding?.seq, report.finding?.code], [9, 'LOG_LEAF_SEQ_MISMATCH']);

    const log2 = await makeLog(t);
    const later = parseLeafBytes(leafRow(log2.path, 30));
    const early = encodeLeaf({ ...later, acceptedAt: 5 });
    edit(
      log2.path,
      'UPDATE leaves SET bytes = ?, hash = ? WHERE seq = 30',
      early.bytes,
      early.hash,
    );
    report = await audit(log2.reopen());
    assert.deepEqual([report.finding?.seq, report.finding?.code], [30, 'LOG_TIME_BACKWARDS']);
  });

  it('names a deleted leaf, and a log cut shorter than its signed heads', async (t) => {
    const log = await makeLog(t);
    edit(log.path, 'DELETE FROM leaves WHERE seq = 12');
    let report = await audit(log.reopen());
    assert.deepEqual([report.finding?.seq, report.finding?.code], [12, 'STORE_CORRUPT']);

    const log2 = await makeLog(t);
    edit(log2.path, 'DELETE FROM leaves WHERE seq >= 36');
    edit(log2.path, 'UPDATE log_state SET size = 36');
    report = await audit(log2.reopen());
    assert.equal(report.finding?.code, 'LOG_HEAD_BEYOND_LOG');
  });

  it('names a rewritten interior node', async (t) => {
    const log = await makeLog(t);
    edit(log.path, 'UPDATE nodes SET hash = ? WHERE level = 2 AND idx = 3', Buffer.alloc(32, 1));
    const report = await audit(log.reopen());
    assert.deepEqual([report.finding?.seq, report.finding?.code], [12, 'LOG_NODE_MISMATCH']);
  });

  it('refuses heads edited, signed by another key, or for another ledger', async (t) => {
    const cases: [string, (json: string) => string, string][] = [
      [
        'edited root',
        (j) => j.replace(/"root":"[0-9a-f]{2}/, '"root":"00'),
        'HEAD_SIGNATURE_INVALID',
      ],
      [
        'another key',
        (j) => {
          const h = JSON.parse(j);
          const forged = signHead(
            { size: h.size, root: Buffer.from(h.root, 'hex'), time: h.time },
            privateKeyFromSeed('ed25519', Buffer.alloc(32, 4)),
          );
          return canonicalize({ ...forged, ledger: h.ledger });
        },
        'HEAD_SIGNATURE_INVALID',
      ],
      [
        'another ledger',
        (j) => {
          const h = JSON.parse(j);
          return canonicalize(
            signHead(
              { size: h.size, root: Buffer.from(h.root, 'hex'), time: h.time },
              privateKeyFromSeed('ed25519', Buffer.alloc(32, 5)),
            ),
          );
        },
        'HEAD_WRONG_LEDGER',
      ],
      ['garbage', () => '{"size":', 'HEAD_MALFORMED'],
    ];
    for (const [what, change, code] of cases) {
      const log = await makeLog(t);
      const db = new DatabaseSync(log.path);
      const row = db.prepare('SELECT head FROM heads WHERE size = 20').get()!;
      db.prepare('UPDATE heads SET head = ? WHERE size = 20').run(change(String(row['head'])));
      db.close();
      const report = await audit(log.reopen());
      assert.equal(report.finding?.code, code, what);
      assert.equal(report.finding?.at, 'head', what);
      assert.equal(report.finding?.seq, 16, what); // leaves after the last good head (size 16)
    }
  });

  it("names the entry a transaction-level check refuses, with that check's code", async (t) => {
    const log = await makeLog(t);
    const report = await audit(log.reopen(), {
      checkEntry: (leaf: { seq: number }) => {
        if (leaf.seq === 26) throw new VdcError('TX_SIGNATURE_INVALID', 'bad signature');
      },
    });
    assert.deepEqual([report.finding?.seq, report.finding?.code], [26, 'TX_SIGNATURE_INVALID']);
    assert.equal(report.checked, 26);
  });
});
