import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCompleteBody } from './multipart.ts';
import { parseRange } from './s3-request.ts';
import { parseXml, renderXml, xmlEscape } from './s3-xml.ts';

test('renders escaped elements, arrays and nesting in order', () => {
  assert.equal(
    renderXml({ A: 'x<&>"\'', B: [{ C: 1 }, { C: 2 }], D: undefined, E: { F: true } }),
    '<A>x&lt;&amp;&gt;&quot;&apos;</A><B><C>1</C></B><B><C>2</C></B><E><F>true</F></E>',
  );
  assert.equal(xmlEscape('a\u0001b'), 'a\ufffdb');
});

test('parses a CompleteMultipartUpload body, namespaces and entities included', () => {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    '<Part><ETag>&quot;0123456789abcdef0123456789ABCDEF&quot;</ETag><PartNumber>1</PartNumber></Part>' +
    '<Part><PartNumber>2</PartNumber><ETag>ffffffffffffffffffffffffffffffff</ETag></Part></CompleteMultipartUpload>';
  assert.deepEqual(parseCompleteBody(xml), [
    { part: 1, etag: '0123456789abcdef0123456789abcdef' },
    { part: 2, etag: 'ffffffffffffffffffffffffffffffff' },
  ]);
});

test('refuses DOCTYPE, CDATA, comments, unknown entities, bad nesting and stray text', () => {
  for (const bad of [
    '<!DOCTYPE a><a/>',
    '<a><![CDATA[x]]></a>',
    '<a><!-- c --></a>',
    '<a>&ent;</a>',
    '<a><b></a></b>',
    '<a>',
    'text<a/>',
    '<a/><b/>',
    '',
    `${'<a>'.repeat(40)}${'</a>'.repeat(40)}`,
  ])
    assert.throws(() => parseXml(bad), { code: 'S3_MALFORMED_XML' }, bad);
});

test('ranges: first-last, open-ended, suffix; unsatisfiable refused; unparsable ignored', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=95-', 100), { start: 95, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 });
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('items=0-1', 100), undefined);
  assert.equal(parseRange('bytes=9-1', 100), undefined);
  assert.throws(() => parseRange('bytes=100-', 100), { code: 'S3_INVALID_RANGE' });
  assert.throws(() => parseRange('bytes=0-0', 0), { code: 'S3_INVALID_RANGE' });
});
