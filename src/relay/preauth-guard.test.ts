import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressGroup, PreauthGuard } from './preauth-guard.ts';

test('addresses are grouped: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64', () => {
  assert.equal(addressGroup('192.0.2.7'), '192.0.2.7');
  assert.equal(addressGroup('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressGroup('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup(undefined), 'unknown');
});

test('the guard bounds connections per group and in all, and frees them on leave', () => {
  const g = new PreauthGuard({ maxUnauthenticated: 3, maxUnauthenticatedPerAddress: 2 });
  assert.deepEqual([g.enter('a'), g.enter('a'), g.enter('a')], [true, true, false]);
  assert.deepEqual([g.enter('b'), g.enter('c')], [true, false], 'three in all');
  assert.equal(g.total, 3);
  g.leave('a');
  assert.equal(g.enter('a'), true);
  assert.equal(g.refused, 2);
  g.leave('zzz'); // never entered: counts nothing
  assert.equal(g.total, 3);
});
