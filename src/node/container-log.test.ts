import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rotateLog, tailLog } from './container-log.ts';

describe('container log', () => {
  test('the tail continues into the rotated part and never starts mid-character', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vdc-log-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'log');
    writeFileSync(log, `old line\n${'é'.repeat(10)}\n`);
    rotateLog(log, 8);
    assert.equal(statSync(log).size, 0);
    assert.match(readFileSync(`${log}.1`, 'utf8'), /^old line/);
    writeFileSync(log, 'new line\n', { flag: 'a' });
    assert.equal(tailLog(log, 1000), `old line\n${'é'.repeat(10)}\nnew line\n`);
    // 12 bytes: 'new line\n' (9) and 3 bytes of the rotated part, one of them a lone continuation byte
    assert.equal(tailLog(log, 12), 'é\nnew line\n');
    assert.equal(tailLog(join(dir, 'none'), 100), '');
  });

  test('a log under the bound is left alone', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vdc-log-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, 'log');
    writeFileSync(log, 'short\n');
    rotateLog(log, 100);
    assert.equal(readFileSync(log, 'utf8'), 'short\n');
  });
});
