import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ZdbClient } from '../../src/zdb/index.ts';
import { tempDir } from '../../src/zdb/zdb-test-kit.ts';
import { VDC_BIN } from '../support/run-vdc.ts';

/*
 * kill -9 while a client writes: after a restart every acknowledged key reads back
 * byte-identical, and a key whose write was not acknowledged holds nothing or what was
 * sent, never anything else.
 */

interface Child {
  proc: ChildProcess;
  port: number;
}

const running = new Set<ChildProcess>();

function startChild(dir: string, extra: string[]): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      VDC_BIN,
      [
        'zdb',
        'serve',
        '--data',
        join(dir, 'data'),
        '--index',
        join(dir, 'index'),
        '--listen',
        '127.0.0.1',
        '--port',
        '0',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(proc);
    proc.on('exit', () => running.delete(proc));
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /zdb listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.stderr!.resume();
    proc.on('exit', (code) =>
      reject(new Error(`zdb exited with ${code} before listening: ${out}`)),
    );
  });
}

function killHard(c: Child): Promise<void> {
  return new Promise((resolve) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
    c.proc.once('exit', () => resolve());
    c.proc.kill('SIGKILL');
  });
}

async function crashRound(
  dir: string,
  extra: string[],
  acked: Map<string, Buffer>,
  sent: Map<string, Buffer[]>,
  runMs: number,
) {
  const child = await startChild(dir, extra);
  const client = await ZdbClient.connect({ host: '127.0.0.1', port: child.port });
  let stop = false;
  let failed = false;
  const writer = (async () => {
    let i = 0;
    while (!stop) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < 16; j++, i++) {
        // most writes are new keys; some overwrite an acknowledged one
        const known = [...acked.keys()];
        const key =
          i % 5 === 4 && known.length > 0
            ? known[i % known.length]!
            : randomBytes(8).toString('hex');
        const size = i % 50 === 0 ? 200_000 : (i * 37) % 3000;
        const value = randomBytes(size);
        const list = sent.get(key) ?? [];
        list.push(value);
        sent.set(key, list);
        batch.push(
          client.command('SET', key, value).then(
            (r) => {
              if (Buffer.isBuffer(r) && r.toString() === key) acked.set(key, value);
            },
            () => {
              failed = true; // the server is gone: stop writing
            },
          ),
        );
      }
      await Promise.all(batch);
      if (failed) break;
    }
  })();
  await new Promise((r) => setTimeout(r, runMs));
  await killHard(child);
  stop = true;
  await writer;
  client.close();
}

async function verify(
  dir: string,
  extra: string[],
  acked: Map<string, Buffer>,
  sent: Map<string, Buffer[]>,
) {
  const child = await startChild(dir, extra);
  try {
    const client = await ZdbClient.connect({ host: '127.0.0.1', port: child.port });
    let checked = 0;
    const keys = [...sent.keys()];
    for (let i = 0; i < keys.length; i += 200) {
      const slice = keys.slice(i, i + 200);
      const values = (await client.command('MGET', ...slice)) as (Buffer | null)[];
      slice.forEach((k, j) => {
        const got = values[j] ?? null;
        const ack = acked.get(k);
        const candidates = sent.get(k)!;
        if (ack) {
          // the acknowledged value, or one sent after it that reached the disk unacknowledged
          const after = candidates.slice(candidates.indexOf(ack));
          assert.ok(
            got && after.some((v) => v.equals(got)),
            `acknowledged key ${k} lost or changed`,
          );
          checked++;
        } else if (got)
          assert.ok(
            candidates.some((v) => v.equals(got)),
            `key ${k} holds bytes never sent`,
          );
      });
    }
    assert.ok(checked === acked.size && checked > 0, `checked ${checked} of ${acked.size}`);
    client.close();
  } finally {
    await killHard(child);
  }
}

describe('zdb crash recovery', () => {
  for (const [name, extra] of [
    ['default settings', []],
    [
      '--sync with small data files (rotation during the crash)',
      ['--sync', '--datasize', '262144'],
    ],
  ] as const) {
    test(`kill -9 while writing keeps every acknowledged write (${name})`, async (t) => {
      t.after(() => {
        for (const p of running) p.kill('SIGKILL');
      });
      const dir = tempDir(t, 'vdc-zdb-crash-');
      const acked = new Map<string, Buffer>();
      const sent = new Map<string, Buffer[]>();
      for (const ms of [400, 250, 600]) {
        await crashRound(dir, [...extra], acked, sent, ms);
        await verify(dir, [...extra], acked, sent);
      }
    });
  }
});
