import assert from 'node:assert/strict';
import {
  appendFileSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KeyIndex } from './key-index.ts';
import { NamespaceStore, type StoreEvents } from './namespace-store.ts';
import { DATA_HEADER_SIZE, FILE_HEADER_SIZE } from './record-format.ts';
import { dataFileName, indexFileName, loadNamespace } from './store-loader.ts';
import { tempDir } from './zdb-test-kit.ts';

const events = (log: string[] = []): StoreEvents => ({
  jump: (kind, closed, opened) => log.push(`${kind} ${closed} ${opened}`),
  missingData: () => false,
});

function open(dir: string, log?: string[]): NamespaceStore {
  return new NamespaceStore(join(dir, 'index'), join(dir, 'data'), events(log));
}

function value(s: NamespaceStore, key: string): string | undefined {
  const id = s.index.find(Buffer.from(key));
  if (id < 0) return undefined;
  const e = s.index.entry(id);
  if (e.flags & 1) return undefined;
  return s.readValue(Buffer.from(key), e.dataId, e.dataOffset, e.length)?.toString();
}

describe('namespace store', () => {
  test('keeps values, overwrites and deletes across a reopen', (t) => {
    const dir = tempDir(t);
    const s = open(dir);
    s.append(Buffer.from('a'), Buffer.from('one'), 10, false);
    s.append(Buffer.from('b'), Buffer.from('two'), 11, false);
    s.append(Buffer.from('a'), Buffer.from('uno'), 12, false);
    s.append(Buffer.from('b'), Buffer.alloc(0), 13, true);
    s.close();
    const r = open(dir);
    assert.equal(value(r, 'a'), 'uno');
    assert.equal(value(r, 'b'), undefined);
    assert.equal(r.entries, 1);
    assert.equal(r.datasize, 3);
    r.close();
  });

  test('rotates files on jump and walks scans and history across them', (t) => {
    const dir = tempDir(t);
    const log: string[] = [];
    const s = open(dir, log);
    s.append(Buffer.from('k'), Buffer.from('v1'), 1, false);
    s.jump();
    s.append(Buffer.from('k'), Buffer.from('v2'), 2, false);
    s.append(Buffer.from('j'), Buffer.from('w'), 3, false);
    s.jump();
    assert.equal(log.length, 4);
    assert.match(log[0]!, /^jump-index .*zdb-index-00000 .*zdb-index-00001$/);
    assert.match(log[1]!, /^jump-data .*zdb-data-00000 .*zdb-data-00001$/);
    const fwd = s.scan(s.firstPosition(), true, 100).map((i) => i.key.toString());
    assert.deepEqual(fwd, ['k', 'j']);
    const back = s.scan(s.lastPosition(), false, 100).map((i) => i.key.toString());
    assert.deepEqual(back, ['j', 'k']);
    const e = s.index.entry(s.index.find(Buffer.from('k')));
    const cur = s.readIndexAt({ id: e.idxId, offset: e.idxOffset })!;
    assert.equal(cur.timestamp, 2);
    const prev = s.readIndexAt({ id: cur.prevId, offset: cur.prevOffset })!;
    assert.equal(prev.timestamp, 1);
    assert.equal(
      s.readValue(prev.key, prev.dataId, prev.dataOffset, prev.length)?.toString(),
      'v1',
    );
    s.close();
    assert.deepEqual(readdirSync(join(dir, 'data')).sort(), [0, 1, 2].map(dataFileName));
  });

  test('discards a torn index tail and unindexed data at start', (t) => {
    const dir = tempDir(t);
    const s = open(dir);
    s.append(Buffer.from('keep'), Buffer.from('x'.repeat(100)), 1, false);
    s.append(Buffer.from('torn'), Buffer.from('y'.repeat(100)), 2, false);
    s.close();
    const idx = join(dir, 'index', indexFileName(0));
    const size = statSync(idx).size;
    truncateSync(idx, size - 3); // the last index record loses its end
    appendFileSync(
      join(dir, 'data', dataFileName(0)),
      Buffer.from('garbage after the last record'),
    );
    const r = open(dir);
    assert.equal(value(r, 'keep'), 'x'.repeat(100));
    assert.equal(value(r, 'torn'), undefined);
    const dataSize = statSync(join(dir, 'data', dataFileName(0))).size;
    assert.equal(dataSize, FILE_HEADER_SIZE + DATA_HEADER_SIZE + 4 + 100);
    r.append(Buffer.from('after'), Buffer.from('z'), 3, false);
    r.close();
    const again = open(dir);
    assert.equal(value(again, 'after'), 'z');
    again.close();
  });

  test('replays an index file through small read windows exactly as in one piece', (t) => {
    const dir = tempDir(t);
    const s = open(dir);
    for (let i = 0; i < 500; i++)
      s.append(Buffer.from(`key-${i}-${'x'.repeat(i % 40)}`), Buffer.from(`v${i}`), i, false);
    for (let i = 0; i < 500; i += 3)
      s.append(Buffer.from(`key-${i}-${'x'.repeat(i % 40)}`), Buffer.alloc(0), 9, true);
    s.close();
    const whole = new KeyIndex();
    const a = loadNamespace(join(dir, 'index'), join(dir, 'data'), whole);
    const small = new KeyIndex();
    const b = loadNamespace(join(dir, 'index'), join(dir, 'data'), small, 300);
    assert.deepEqual([b.entries, b.datasize, b.discardedBytes], [a.entries, a.datasize, 0]);
    assert.equal(a.entries, 500 - 167);
    for (const id of whole.ids())
      assert.deepEqual(small.entry(small.find(whole.key(id))), whole.entry(id));
  });

  test('never serves a value whose CRC fails', (t) => {
    const dir = tempDir(t);
    const s = open(dir);
    s.append(Buffer.from('k'), Buffer.from('hello world'), 1, false);
    s.close();
    const path = join(dir, 'data', dataFileName(0));
    const b = readFileSync(path);
    b[b.length - 1] = b[b.length - 1]! ^ 0x01; // flip one bit of the value
    writeFileSync(path, b);
    const r = open(dir);
    assert.equal(r.index.find(Buffer.from('k')) >= 0, true);
    assert.equal(value(r, 'k'), undefined);
    r.close();
  });

  test('index memory stays under 64 bytes per key plus the key at 200k keys', () => {
    const index = new KeyIndex();
    const n = 200_000;
    let keyBytes = 0;
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(`key:${i.toString().padStart(12, '0')}`);
      keyBytes += key.length;
      index.set(key, {
        flags: 0,
        dataId: 0,
        dataOffset: i,
        length: 3,
        crc: i,
        timestamp: i,
        idxId: 0,
        idxOffset: i,
      });
    }
    const perKey = (index.memoryBytes() - keyBytes) / n;
    assert.ok(perKey < 64, `index costs ${perKey.toFixed(1)} bytes per key plus the key`);
    assert.equal(index.entry(index.find(Buffer.from('key:000000012345'))).crc, 12345);
  });
});
