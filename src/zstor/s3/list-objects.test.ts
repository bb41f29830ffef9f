import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeToken,
  encodeToken,
  type ListEntry,
  listPage,
  parseMaxKeys,
} from './list-objects.ts';

const entries = (keys: string[]): ListEntry[] =>
  keys.map((key) => ({ key, size: 1, lastModified: 0, version: 1 }));
const KEYS = entries(['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'd', 'e/x']);

/** Every page until the end, as a client following NextContinuationToken would. */
function allPages(req: { prefix?: string; delimiter?: string; maxKeys: number }): string[][] {
  const pages: string[][] = [];
  let after = '';
  for (;;) {
    const p = listPage(KEYS, {
      prefix: req.prefix ?? '',
      delimiter: req.delimiter ?? '',
      maxKeys: req.maxKeys,
      after,
    });
    pages.push([...p.commonPrefixes, ...p.contents.map((e) => e.key)]);
    if (!p.truncated) return pages;
    after = decodeToken(encodeToken(p.next!));
  }
}

test('delimiter rolls keys up into common prefixes that count toward max-keys', () => {
  const p = listPage(KEYS, { prefix: '', delimiter: '/', maxKeys: 1000, after: '' });
  assert.deepEqual(p.commonPrefixes, ['a/', 'b/', 'e/']);
  assert.deepEqual(
    p.contents.map((e) => e.key),
    ['c', 'd'],
  );
  assert.equal(p.truncated, false);
  assert.deepEqual(allPages({ delimiter: '/', maxKeys: 2 }), [['a/', 'b/'], ['c', 'd'], ['e/']]);
  assert.deepEqual(allPages({ prefix: 'a/', delimiter: '/', maxKeys: 1 }), [
    ['a/1'],
    ['a/2'],
    ['a/b/'],
  ]);
});

test('pages without delimiter cover every key once, for every page size', () => {
  for (let n = 1; n <= 8; n++)
    assert.deepEqual(
      allPages({ maxKeys: n }).flat(),
      KEYS.map((e) => e.key),
    );
});

test('max-keys and tokens are checked', () => {
  assert.equal(parseMaxKeys(undefined), 1000);
  assert.equal(parseMaxKeys('5000'), 1000);
  assert.throws(() => parseMaxKeys('-1'), { code: 'S3_INVALID_ARGUMENT' });
  assert.throws(() => decodeToken('!!'), { code: 'S3_INVALID_ARGUMENT' });
  assert.equal(decodeToken(encodeToken('ü/€')), 'ü/€');
});
