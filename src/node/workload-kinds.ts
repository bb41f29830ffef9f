import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import { fromHex } from '../core/hex.ts';
import { MAX_ID, type Workload } from './deployment-document.ts';

/*
 * The workload kinds a deployment may hold (DESIGN §7) and the schema of each kind's
 * `spec`. A spec is checked whole, every field with its bounds, before any workload is
 * applied; an unknown field is refused rather than ignored, so a typo never deploys
 * something other than what was meant. Which kinds this node can actually run is the
 * engine's business (runtimes), not the schema's.
 */

const CODE = 'DEPLOYMENT_WORKLOAD_INVALID';
const NETWORK = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const WORKLOAD = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A PEM certificate block, and the whole chain: 1..8 of them, nothing else but whitespace. */
const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;
/** The gateway's own bound on a tunnel's chain (src/gateway/tunnel-tls.ts). */
export const MAX_TLS_CHAIN = 8;
/** Characters of a gateway workload's certificate chain (PEM). */
export const MAX_TLS_CERT_CHARS = 32_768;
/** Characters of its sealed key (base64 of a key of up to 16 KiB, sealed). */
const MAX_TLS_KEY_CHARS = 32_768;

export const WORKLOAD_KINDS = ['container', 'zdb', 'network', 'gateway'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export function isWorkloadKind(kind: string): kind is WorkloadKind {
  return (WORKLOAD_KINDS as readonly string[]).includes(kind);
}

type Spec = Record<string, unknown>;

function httpUrl(value: unknown, label: string): void {
  assertString(value, label, { min: 1, max: 2048 }, CODE);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(CODE, `'${label}' must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password)
    fail(CODE, `'${label}' must be an http:// or https:// URL without credentials`);
}

function stringMap(
  value: unknown,
  label: string,
  key: RegExp,
  max: number,
  valueMax: number,
): void {
  assertObject(value, label, CODE);
  const keys = Object.keys(value);
  if (keys.length > max) fail(CODE, `'${label}' holds ${keys.length} entries; at most ${max}`);
  for (const k of keys) {
    if (!key.test(k)) fail(CODE, `'${label}' has a key ${JSON.stringify(k)} not matching ${key}`);
    assertString(value[k], `${label}.${k}`, { max: valueMax }, CODE);
  }
}

function uniqueNames(value: unknown, label: string, max: number): void {
  if (!Array.isArray(value) || value.length > max)
    fail(CODE, `'${label}' must be an array of at most ${max} network names`);
  for (const [i, n] of value.entries())
    assertString(n, `${label}[${i}]`, { pattern: NETWORK }, CODE);
  if (new Set(value).size !== value.length) fail(CODE, `'${label}' names a network twice`);
}

/** `container`: an OCI image tarball by URL and digest, run by crun with limits. */
function container(s: Spec, label: string): void {
  assertExactKeys(
    s,
    label,
    ['image', 'resources'],
    ['entrypoint', 'env', 'networks', 'secrets'],
    CODE,
  );
  const image = s['image'];
  assertObject(image, `${label}.image`, CODE);
  assertExactKeys(image, `${label}.image`, ['url', 'sha256'], [], CODE);
  httpUrl(image['url'], `${label}.image.url`);
  fromHex(image['sha256'], `${label}.image.sha256`, 32, CODE);
  const r = s['resources'];
  assertObject(r, `${label}.resources`, CODE);
  assertExactKeys(r, `${label}.resources`, ['cpu', 'memory'], ['pids'], CODE);
  assertInteger(r['cpu'], `${label}.resources.cpu (millicores)`, 1, 65_536_000, CODE);
  assertInteger(r['memory'], `${label}.resources.memory (bytes)`, 4 * 2 ** 20, 2 ** 50, CODE);
  if (r['pids'] !== undefined)
    assertInteger(r['pids'], `${label}.resources.pids`, 1, 1_000_000, CODE);
  if (s['entrypoint'] !== undefined) {
    const e = s['entrypoint'];
    if (!Array.isArray(e) || e.length < 1 || e.length > 64)
      fail(CODE, `'${label}.entrypoint' must be an array of 1..64 strings`);
    for (const [i, a] of e.entries())
      assertString(a, `${label}.entrypoint[${i}]`, { max: 4096 }, CODE);
  }
  if (s['env'] !== undefined) stringMap(s['env'], `${label}.env`, ENV_NAME, 128, 32_768);
  if (s['networks'] !== undefined) uniqueNames(s['networks'], `${label}.networks`, 8);
  if (s['secrets'] !== undefined) {
    stringMap(s['secrets'], `${label}.secrets`, ENV_NAME, 32, 65_536);
    for (const [k, v] of Object.entries(s['secrets'] as Record<string, string>))
      if (!BASE64.test(v))
        fail(CODE, `'${label}.secrets.${k}' must be base64 (sealed to the node)`);
  }
}

/** `zdb`: a private namespace on the node's zdb, reachable on the owner's overlay only. */
function zdb(s: Spec, label: string): void {
  assertExactKeys(s, label, ['size', 'mode', 'network'], [], CODE);
  assertInteger(s['size'], `${label}.size (bytes)`, 1, 2 ** 50, CODE);
  if (s['mode'] !== 'user' && s['mode'] !== 'seq')
    fail(CODE, `'${label}.mode' must be "user" or "seq", got ${JSON.stringify(s['mode'])}`);
  assertString(s['network'], `${label}.network`, { pattern: NETWORK }, CODE);
}

/** `network`: join one of the owner's overlays (named in the contract's networks). */
function network(s: Spec, label: string): void {
  assertExactKeys(s, label, ['network'], [], CODE);
  assertString(s['network'], `${label}.network`, { pattern: NETWORK }, CODE);
}

/**
 * A gateway workload's certificate for http mode over TLS (docs/node-gateway.md): the
 * chain in PEM, public; the private key sealed to the node (secret-seal.ts, use
 * `gateway-tls-key`), opened only in memory when the tunnel starts.
 */
function gatewayTls(t: unknown, label: string): void {
  assertObject(t, label, CODE);
  assertExactKeys(t, label, ['cert', 'key'], [], CODE);
  assertString(t['cert'], `${label}.cert`, { min: 1, max: MAX_TLS_CERT_CHARS }, CODE);
  const blocks = t['cert'].match(PEM_CERT) ?? [];
  if (
    blocks.length < 1 ||
    blocks.length > MAX_TLS_CHAIN ||
    t['cert'].replace(PEM_CERT, '').trim() !== ''
  )
    fail(
      CODE,
      `'${label}.cert' must be 1..${MAX_TLS_CHAIN} PEM certificates (leaf first) and nothing else`,
    );
  assertString(t['key'], `${label}.key`, { min: 4, max: MAX_TLS_KEY_CHARS }, CODE);
  if (!BASE64.test(t['key']))
    fail(CODE, `'${label}.key' must be base64 (the private key sealed to the node)`);
}

/** `gateway`: a tunnel from a workload's port to a gateway name, under the owner's grant. */
function gateway(s: Spec, label: string): void {
  assertExactKeys(s, label, ['name', 'gateway', 'workload', 'port', 'grant'], ['tls'], CODE);
  assertString(s['name'], `${label}.name`, { pattern: LABEL }, CODE);
  assertInteger(s['gateway'], `${label}.gateway`, 1, MAX_ID, CODE);
  assertString(s['workload'], `${label}.workload`, { pattern: WORKLOAD }, CODE);
  assertInteger(s['port'], `${label}.port`, 1, 65_535, CODE);
  fromHex(s['grant'], `${label}.grant (vdc/grant/v1 signature)`, 64, CODE);
  if (s['tls'] !== undefined) gatewayTls(s['tls'], `${label}.tls`);
}

const SCHEMAS: Record<WorkloadKind, (s: Spec, label: string) => void> = {
  container,
  zdb,
  network,
  gateway,
};

/** The runtime a kind needs on the node, named in WORKLOAD_KIND_UNAVAILABLE. */
export const KIND_RUNTIMES: Record<WorkloadKind, string> = {
  container: 'the container runtime (crun)',
  zdb: 'the zdb runtime',
  network: 'the overlay network runtime (WireGuard)',
  gateway: 'the gateway tunnel runtime',
};

/**
 * Checks a workload of a known kind against its kind's schema.
 * @throws VdcError DEPLOYMENT_WORKLOAD_INVALID naming the field
 */
export function checkWorkloadSpec(w: Workload & { kind: WorkloadKind }): void {
  SCHEMAS[w.kind](w.spec, `workload ${w.name} (${w.kind}).spec`);
}

/**
 * What a kind needs running before it: a container joins the overlay its `networks` name,
 * a zdb is reachable on its network, a gateway tunnels to a container's port.
 */
const KIND_ORDER: Record<WorkloadKind, number> = { network: 0, zdb: 1, container: 2, gateway: 3 };

/** The workloads in the order they apply (removal is the reverse); document order within a kind. */
export function inDependencyOrder<W extends { kind: string }>(workloads: readonly W[]): W[] {
  const rank = (w: W) => KIND_ORDER[w.kind as WorkloadKind] ?? WORKLOAD_KINDS.length;
  return workloads
    .map((w, i) => ({ w, i }))
    .sort((a, b) => rank(a.w) - rank(b.w) || a.i - b.i)
    .map((x) => x.w);
}
