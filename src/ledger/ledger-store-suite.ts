import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ManualClock } from '../core/clock.ts';
import { toHex } from '../core/hex.ts';
import { privateKeyFromSeed, rawPublicKey } from '../core/keys.ts';
import type { LedgerStore } from './ledger-store.ts';
import { auditLog } from './log-audit.ts';
import { type LeafDraft, LogCommitter } from './log-committer.ts';
import { leafBytes, parseLeafBytes } from './log-leaf.ts';
import { storeConsistencyProof, storeInclusionProof, storeRoot } from './log-proofs.ts';
import { EMPTY_ROOT } from './merkle-hash.ts';
import { MemoryMerkleTree } from './merkle-memory-tree.ts';
import { verifyConsistency, verifyInclusion } from './merkle-verify.ts';
import { verifyHead } from './signed-head.ts';

/*
 * One suite for every LedgerStore: each store's test file calls ledgerStoreSuite with a
 * fixture that makes a fresh, empty store for one test (a new SQLite file, a new
 * PostgreSQL schema) and cleans it up after.
 */

export interface StoreFixture {
  /** the --store spec of this test's store, for child processes */
  spec: string;
  /** opens the store (again); every store opened is closed after the test */
  open(): Promise<LedgerStore>;
}

export type MakeFixture = (t: TestContext) => Promise<StoreFixture | undefined>;

const SEED = Buffer.alloc(32, 7);
const KEY = privateKeyFromSeed('ed25519', SEED);
const PUBLIC = rawPublicKey(KEY);

export function draft(n: number, acceptedAt = 1_700_000_000_000 + n): LeafDraft {
  return { acceptedAt, tx: { type: 'test', n }, sig: toHex(Buffer.alloc(64, n % 256)) };
}

async function fill(
  committer: LogCommitter,
  from: number,
  to: number,
  reference?: MemoryMerkleTree,
) {
  for (let n = from; n < to; ) {
    const count = Math.min(to - n, 1 + (n % 5)); // batches of 1..5 leaves
    const leaves = await committer.append(Array.from({ length: count }, (_, i) => draft(n + i)));
    if (reference) for (const leaf of leaves) reference.appendData(leafBytes(leaf));
    n += count;
  }
}

export function ledgerStoreSuite(name: string, makeFixture: MakeFixture): void {
  async function setup(t: TestContext) {
    const fixture = await makeFixture(t);
    if (!fixture) return undefined;
    const store = await fixture.open();
    const committer = await LogCommitter.open(store, { ledgerKey: KEY });
    return { fixture, store, committer };
  }

  describe(`${name} ledger store`, () => {
    it('starts empty: no leaves, no head, the empty root', async (t) => {
      const s = await setup(t);
      if (!s) return;
      assert.equal(await s.store.size(), 0);
      assert.equal(await s.store.latestHead(), undefined);
      assert.deepEqual(await s.store.readLeaves(0, 10), []);
      assert.deepEqual(await storeRoot(s.store, 0), EMPTY_ROOT);
      await assert.rejects(storeRoot(s.store, 1), { code: 'LOG_SIZE_EXCEEDED' });
    });

    it('appends batches and reads back any range of leaves in order', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await fill(s.committer, 0, 100);
      assert.equal(await s.store.size(), 100);
      const some = await s.store.readLeaves(10, 20);
      assert.deepEqual(
        some.map((l) => l.seq),
        Array.from({ length: 10 }, (_, i) => 10 + i),
      );
      assert.deepEqual(parseLeafBytes(some[3]!.bytes), { seq: 13, ...draft(13) });
      assert.equal((await s.store.readLeaves(95, 200)).length, 5);
      assert.deepEqual(await s.store.readLeaves(100, 110), []);
    });

    it('proves inclusion and consistency exactly as the in-memory reference does', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const reference = new MemoryMerkleTree();
      await fill(s.committer, 0, 40, reference);
      for (let n = 1; n <= 40; n++) {
        const root = await storeRoot(s.store, n);
        assert.deepEqual(root, await reference.root(n));
        for (let m = 0; m < n; m++) {
          const proof = await storeInclusionProof(s.store, m, n);
          assert.deepEqual(proof, await reference.inclusionProof(m, n));
          const [leaf] = await s.store.readLeaves(m, m + 1);
          verifyInclusion(proof, leaf!.hash, root);
        }
        for (let m = 0; m <= n; m++) {
          const proof = await storeConsistencyProof(s.store, m, n);
          assert.deepEqual(proof, await reference.consistencyProof(m, n));
          verifyConsistency(proof, await reference.root(m), root);
        }
      }
      await assert.rejects(storeInclusionProof(s.store, 0, 41), { code: 'LOG_SIZE_EXCEEDED' });
      await assert.rejects(storeInclusionProof(s.store, 40, 40), { code: 'LOG_RANGE_INVALID' });
    });

    it('stores a head signed by the ledger for every commit, and fresh heads on demand', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await fill(s.committer, 0, 12);
      const head = verifyHead(await s.store.latestHead(), PUBLIC);
      assert.equal(head.size, 12);
      assert.equal(head.root, toHex(await storeRoot(s.store, 12)));
      assert.deepEqual(s.committer.head, head);
      const rows = await s.store.readHeads(0, 100);
      for (const row of rows) {
        const h = verifyHead(JSON.parse(row.json), PUBLIC);
        assert.equal(h.root, toHex(await storeRoot(s.store, h.size)));
      }
      const fresh = await s.committer.issueHead();
      assert.equal(fresh.size, 12);
      assert.equal((await s.store.readHeads(0, 100)).length, rows.length + 1);
      assert.deepEqual(await s.store.latestHead(), fresh);
      assert.equal((await auditLog(s.store, PUBLIC)).ok, true);
    });

    it('keeps every leaf, node and head across close and reopen, and continues the same tree', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await fill(s.committer, 0, 25);
      const before = (await s.store.latestHead())!;
      await s.store.close();
      const store = await s.fixture.open();
      const committer = await LogCommitter.open(store, { ledgerKey: KEY });
      assert.equal(committer.size, 25);
      assert.deepEqual(await store.latestHead(), before);
      await fill(committer, 25, 37);
      const after = verifyHead(await store.latestHead(), PUBLIC);
      verifyConsistency(
        await storeConsistencyProof(store, 25, 37),
        Buffer.from(before.root, 'hex'),
        Buffer.from(after.root, 'hex'),
      );
      const report = await auditLog(store, PUBLIC);
      assert.deepEqual(report, { ok: true, size: 37, checked: 37, heads: report.heads });
    });

    it('keeps every acknowledged leaf when the writing process is killed with SIGKILL', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await s.store.close();
      const acked = await crashWriter(s.fixture.spec, 300);
      const store = await s.fixture.open();
      const size = await store.size();
      const max = Math.max(...acked);
      assert.ok(size > max, `store holds ${size} leaves, but seq ${max} was acknowledged`);
      const rows = await store.readLeaves(0, size);
      const present = new Set(rows.map((r) => r.seq));
      for (const seq of acked) assert.ok(present.has(seq), `acknowledged seq ${seq} is missing`);
      const report = await auditLog(store, PUBLIC);
      assert.equal(report.ok, true, JSON.stringify(report.finding));
      const committer = await LogCommitter.open(store, { ledgerKey: KEY });
      await committer.append([draft(0, Date.now() + 1000)]);
      assert.equal((await auditLog(store, PUBLIC)).ok, true);
    });

    it('shares commits among concurrent appenders and acknowledges each only once durable', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const writers = 16;
      const each = 20;
      const clock = new ManualClock();
      const seqs: number[] = [];
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < each; i++) {
            const [leaf] = await s.committer.append([draft(w * each + i, clock.now())]);
            seqs.push(leaf!.seq);
            assert.ok(
              (await s.store.size()) > leaf!.seq,
              'acknowledged before it was in the store',
            );
          }
        }),
      );
      assert.deepEqual(
        seqs.toSorted((a, b) => a - b),
        Array.from({ length: writers * each }, (_, i) => i),
      );
      const heads = await s.store.readHeads(0, 10_000);
      assert.ok(
        heads.length < writers * each,
        `${heads.length} commits for ${writers * each} leaves`,
      );
      assert.equal((await auditLog(s.store, PUBLIC)).ok, true);
    });

    it('refuses a malformed leaf or one earlier than the last, numbering nothing', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await fill(s.committer, 0, 3);
      await assert.rejects(s.committer.append([{ ...draft(3), sig: 'XYZ' }]), {
        code: 'LOG_LEAF_MALFORMED',
      });
      await assert.rejects(s.committer.append([draft(4, 5)]), { code: 'LOG_TIME_BACKWARDS' });
      assert.equal(s.committer.size, 3);
      assert.equal(await s.store.size(), 3);
    });

    it('refuses a second writer and a store of another ledger, changing nothing', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await fill(s.committer, 0, 5);
      const other = await s.fixture.open();
      const second = await LogCommitter.open(other, { ledgerKey: KEY });
      await s.committer.append([draft(5)]);
      await assert.rejects(second.append([draft(6)]), { code: 'STORE_CONFLICT' });
      await assert.rejects(second.append([draft(7)]), { code: 'LOG_COMMIT_FAILED' });
      assert.equal(await s.store.size(), 6);
      const stranger = privateKeyFromSeed('ed25519', Buffer.alloc(32, 9));
      await assert.rejects(LogCommitter.open(other, { ledgerKey: stranger }), {
        code: 'STORE_LEDGER_MISMATCH',
      });
      assert.equal((await auditLog(s.store, PUBLIC)).ok, true);
    });
  });
}

const HERE = import.meta.dirname;

/**
 * Runs a writer in a child process with 4 concurrent appenders, printing each seq once its
 * append resolved; kills it with SIGKILL after `after` acknowledgements. Returns the seqs seen.
 */
async function crashWriter(spec: string, after: number): Promise<number[]> {
  const url = (f: string) => pathToFileURL(join(HERE, f)).href;
  const script = `
    import { openStore } from ${JSON.stringify(url('open-store.ts'))};
    import { LogCommitter } from ${JSON.stringify(url('log-committer.ts'))};
    import { privateKeyFromSeed } from ${JSON.stringify(url('../core/keys.ts'))};
    const store = await openStore(process.env.VDC_SPEC);
    const key = privateKeyFromSeed('ed25519', Buffer.from(process.env.VDC_SEED, 'hex'));
    const c = await LogCommitter.open(store, { ledgerKey: key });
    let n = 0;
    const loop = async () => {
      for (;;) {
        const at = Math.max(Date.now(), c.lastAcceptedAt);
        const [leaf] = await c.append([{ acceptedAt: at, tx: { n: n++ }, sig: 'ab' }]);
        process.stdout.write(leaf.seq + '\\n');
      }
    };
    await Promise.all([loop(), loop(), loop(), loop()]);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, VDC_SPEC: spec, VDC_SEED: SEED.toString('hex') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const acked: number[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    acked.push(Number(line));
    if (acked.length === after) child.kill('SIGKILL');
  }
  await exited;
  assert.ok(
    acked.length >= after,
    `the writer acknowledged only ${acked.length} leaves before it ended`,
  );
  return acked;
}

/** A fresh, random name for a per-test PostgreSQL schema. */
export function testSchemaName(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}
