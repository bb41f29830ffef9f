import assert from 'node:assert/strict';
import test from 'node:test';
import type { NameRecord } from '../ledger/index.ts';
import { gatewaySeemsBehind, type LagQuestion } from './gateway-lag.ts';

const PIN = 'ab'.repeat(32);

function record(over: Partial<NameRecord> = {}): NameRecord {
  return {
    name: 'shop',
    twin: 7,
    gateway: 3,
    mode: 'http',
    rules: {},
    nodes: [11],
    registeredAt: 1,
    updatedAt: 1,
    ...over,
  };
}

const ask = (over: Partial<LagQuestion>) =>
  gatewaySeemsBehind({
    record: record(),
    gateway: 3,
    node: 11,
    certSha256: undefined,
    code: 'TUNNEL_NAME_UNKNOWN',
    ...over,
  });

test('a refusal the node’s own view contradicts is the gateway being behind', () => {
  assert.equal(ask({ code: 'TUNNEL_NAME_UNKNOWN' }), true);
  assert.equal(ask({ code: 'TUNNEL_NODE_NOT_LISTED' }), true);
  const pinned = record({ rules: { tlsCertSha256: PIN } });
  for (const code of ['TUNNEL_CERT_NOT_PINNED', 'TUNNEL_CERT_NOT_HTTP'])
    assert.equal(ask({ record: pinned, certSha256: PIN, code }), true, code);
  assert.equal(ask({ code: 'TUNNEL_CERT_REQUIRED' }), true, 'the view pins nothing either');
});

test('a refusal the view backs up, or any other refusal, is believed', () => {
  // The view does not back the tunnel: unknown name, another gateway, this node not listed.
  assert.equal(ask({ record: undefined }), false);
  assert.equal(ask({ record: record({ gateway: 4 }) }), false);
  assert.equal(ask({ record: record({ nodes: [12] }) }), false);
  // Certificates: the view pins another leaf, is not http, or pins one this node lacks.
  const other = record({ rules: { tlsCertSha256: 'cd'.repeat(32) } });
  assert.equal(ask({ record: other, certSha256: PIN, code: 'TUNNEL_CERT_NOT_PINNED' }), false);
  const passthrough = record({ mode: 'tls-passthrough', rules: { tlsCertSha256: PIN } });
  assert.equal(ask({ record: passthrough, certSha256: PIN, code: 'TUNNEL_CERT_NOT_HTTP' }), false);
  assert.equal(ask({ certSha256: undefined, code: 'TUNNEL_CERT_NOT_PINNED' }), false);
  const pinned = record({ rules: { tlsCertSha256: PIN } });
  assert.equal(ask({ record: pinned, code: 'TUNNEL_CERT_REQUIRED' }), false);
  // Refusals no lag explains.
  for (const code of ['TUNNEL_NOT_NAME_OWNER', 'TUNNEL_GRANT_INVALID', 'TUNNEL_AUTH_FAILED'])
    assert.equal(ask({ code }), false, code);
});
