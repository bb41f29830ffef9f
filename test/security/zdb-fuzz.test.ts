import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rawExchange, resp, startTestZdb } from '../../src/zdb/zdb-test-kit.ts';

/*
 * Random and mutated RESP for a bounded time (and a bounded number of rounds): the server
 * never crashes, answers every connection with RESP or closes it, and a private namespace
 * the fuzzer cannot open keeps its data.
 */

const FUZZ_MS = 4000;
const MAX_ROUNDS = 400;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMANDS = [
  'SET',
  'GET',
  'DEL',
  'MGET',
  'SCAN',
  'RSCAN',
  'HISTORY',
  'SELECT',
  'NSNEW',
  'NSSET',
  'AUTH',
  'WAIT',
  'KEYCUR',
  'EXISTS',
  'CHECK',
  'INFO',
  'DATA',
  'INDEX',
  'NSINFO',
  'PING',
];

function generate(rand: () => number): Buffer {
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)]!;
  const kind = rand();
  if (kind < 0.2) {
    return Buffer.from(
      Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)),
    );
  }
  const frames: Buffer[] = [];
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const args: (string | Buffer)[] = [pick(COMMANDS)];
    const argc = Math.floor(rand() * 4);
    for (let j = 0; j < argc; j++) {
      const len = rand() < 0.1 ? 300 : Math.floor(rand() * 12);
      args.push(Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256))));
    }
    frames.push(resp(...args));
  }
  const b = Buffer.concat(frames);
  if (kind < 0.6) {
    // mutate: flip bytes, cut, or splice a header digit
    const m = Math.floor(rand() * 4);
    for (let i = 0; i < m && b.length > 0; i++)
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    if (rand() < 0.3) return b.subarray(0, Math.floor(rand() * b.length));
    if (rand() < 0.2)
      return Buffer.concat([b, Buffer.from(`*1\r\n$${Math.floor(rand() * 1e12)}\r\n`)]);
  }
  return b;
}

describe('zdb under fuzzed input', () => {
  test('random and mutated RESP never crashes the server nor touches a private namespace', async (t) => {
    const z = await startTestZdb(t, { adminPassword: 'fuzz-admin-password' });
    const admin = await z.client();
    await admin.command('AUTH', 'fuzz-admin-password');
    await admin.command('NSNEW', 'w');
    await admin.command('NSSET', 'w', 'password', 'witness-password');
    await admin.command('NSSET', 'w', 'public', '0');
    await admin.command('SELECT', 'w', 'witness-password');
    await admin.command('SET', 'witness', 'intact');
    const rand = prng(0x5eed);
    const started = Date.now();
    let rounds = 0;
    let replies = 0;
    while (Date.now() - started < FUZZ_MS && rounds < MAX_ROUNDS) {
      const batch = Array.from({ length: 8 }, () => rawExchange(z.port, generate(rand), 60));
      for (const r of await Promise.all(batch)) {
        if (r.reply.length > 0) {
          replies++;
          assert.match(
            r.reply[0]!,
            /[+\-:$*]/,
            `non-RESP reply ${JSON.stringify(r.reply.slice(0, 40))}`,
          );
        }
      }
      rounds++;
    }
    assert.ok(rounds > 10 && replies > 0);
    assert.equal(await admin.command('PING'), 'PONG');
    assert.equal((await admin.command('GET', 'witness'))?.toString(), 'intact');
    assert.equal(await admin.command('DBSIZE'), 1);
    const fresh = await z.client();
    assert.equal(await fresh.command('PING'), 'PONG');
  });
});
