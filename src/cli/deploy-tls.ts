import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertExactKeys, assertObject, fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';
import type { Projection } from '../ledger/index.ts';
import type { Workload } from '../node/index.ts';
import type { DeployFile } from './deploy-file.ts';

/*
 * The owner's certificate of a `gateway` workload serving an http-mode name over TLS
 * (docs/node-gateway.md, "The owner's certificate"). In the deploy file `spec.tls` is
 * `{cert, key}`, each PEM text or a file path relative to the deploy file's folder. The CLI
 * checks them as the gateway will before anything is signed — here, without the network:
 * the chain parses and the key is the leaf's; then, in the rollout, on the user's own
 * verified view of the ledger: the leaf is the one the name pins, covers NAME.DOMAIN and
 * is valid now. The key is then sealed to the node (deploy-file.ts `buildDeployment`).
 * No message ever quotes the key.
 */

/** The gateway's own bound on a chain (src/gateway/tunnel-tls.ts). */
const MAX_CHAIN = 8;
/** Characters of a chain; the node's schema holds the same bound (workload-kinds.ts). */
const MAX_CERT_CHARS = 32_768;
/** Bytes of a private key in PEM: an RSA 8192 key is about 6.4 KB. */
export const MAX_TLS_KEY_BYTES = 16_384;
const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/** A gateway workload's certificate once loaded: PEM chain and PEM key, plaintext. */
export interface GatewayTls {
  cert: string;
  key: string;
}

/** PEM text as given, or the file it names, relative to `dir`. @throws DEPLOY_TLS_INVALID */
function pemOrFile(value: string, label: string, dir: string, max: number): string {
  let text = value;
  if (!value.trimStart().startsWith('-----BEGIN ')) {
    const path = resolve(dir, value);
    try {
      // A regular file of a sane size before reading: not a FIFO, a device or a huge file.
      const st = statSync(path);
      if (!st.isFile() || st.size > max)
        fail(
          'DEPLOY_TLS_INVALID',
          `'${label}' names ${path}, which is ${st.isFile() ? `larger than ${max} bytes` : 'not a regular file'}: give PEM text or a PEM file`,
        );
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof VdcError) throw err;
      fail(
        'DEPLOY_TLS_INVALID',
        `'${label}' names ${path}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): give PEM text or a readable file, relative to the deploy file`,
        err,
      );
    }
  }
  if (Buffer.byteLength(text) > max)
    fail('DEPLOY_TLS_INVALID', `'${label}' is larger than ${max} bytes`);
  return text;
}

function chainOf(pem: string, label: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length < 1 || blocks.length > MAX_CHAIN || pem.replace(PEM_CERT, '').trim() !== '')
    fail(
      'DEPLOY_TLS_INVALID',
      `'${label}' must hold 1..${MAX_CHAIN} PEM certificates, leaf first, and nothing else; it holds ${blocks.length}`,
    );
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      return fail(
        'DEPLOY_TLS_INVALID',
        `certificate ${i + 1} of '${label}' does not parse: ${(err as Error).message}`,
        err,
      );
    }
  });
}

/** Hex SHA-256 of the leaf's DER: what `rules.tlsCertSha256` pins. */
export function leafSha256(chainPem: string): string {
  return createHash('sha256').update(chainOf(chainPem, 'tls.cert')[0]!.raw).digest('hex');
}

/**
 * Reads a gateway workload's `tls` from the file and checks it needs no network: the chain
 * parses and the key (unencrypted PEM) is the leaf certificate's.
 * @throws VdcError DEPLOY_TLS_INVALID, DEPLOY_TLS_KEY_MISMATCH
 */
export function loadGatewayTls(value: unknown, label: string, dir: string): GatewayTls {
  assertObject(value, label, 'DEPLOY_TLS_INVALID');
  assertExactKeys(value, label, ['cert', 'key'], [], 'DEPLOY_TLS_INVALID');
  // not assertString's own message for the key: it would quote the value
  for (const f of ['cert', 'key'])
    if (typeof value[f] !== 'string' || value[f] === '')
      fail('DEPLOY_TLS_INVALID', `'${label}.${f}' must be PEM text or a file name`);
  const cert = pemOrFile(String(value['cert']), `${label}.cert`, dir, MAX_CERT_CHARS);
  const key = pemOrFile(String(value['key']), `${label}.key`, dir, MAX_TLS_KEY_BYTES);
  const leaf = chainOf(cert, `${label}.cert`)[0]!;
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    fail(
      'DEPLOY_TLS_INVALID',
      `'${label}.key' is not a private key in unencrypted PEM: ${(err as Error).message}`,
      err,
    );
  }
  if (!leaf.checkPrivateKey(keyObject))
    fail(
      'DEPLOY_TLS_KEY_MISMATCH',
      `'${label}.key' is not the key of the leaf certificate in '${label}.cert': give the key the certificate was made for`,
    );
  return { cert, key };
}

interface GatewaySpec {
  name: string;
  gateway: number;
  tls?: GatewayTls;
}

/**
 * Checks each gateway workload's certificate against its name on the user's verified view,
 * as the gateway will: the name pins exactly this leaf (or, without a certificate, pins
 * none), is in http mode, and the leaf covers NAME.DOMAIN and is valid at `now`. Runs after
 * the name checks of deploy-grants.ts, so the name and gateway exist.
 * @throws VdcError DEPLOY_TLS_REQUIRED, DEPLOY_TLS_NOT_HTTP, DEPLOY_TLS_NOT_PINNED,
 *   DEPLOY_TLS_WRONG_NAME, DEPLOY_TLS_EXPIRED
 * @returns the workloads that present a certificate, with the leaf's hash
 */
export function checkGatewayCertificates(
  file: DeployFile,
  ctx: { view: Projection; now: number },
): { workload: string; name: string; sha256: string }[] {
  const checked: { workload: string; name: string; sha256: string }[] = [];
  for (const w of file.workloads) {
    if (w.kind !== 'gateway') continue;
    const spec = w.spec as unknown as GatewaySpec;
    const name = ctx.view.name(spec.name);
    const gateway = ctx.view.gateway(spec.gateway);
    if (!name || !gateway) continue; // deploy-grants.ts refuses these, naming them
    checkOne(w, spec, name, `${spec.name}.${gateway.domain}`, ctx.now);
    if (spec.tls)
      checked.push({ workload: w.name, name: spec.name, sha256: leafSha256(spec.tls.cert) });
  }
  return checked;
}

function checkOne(
  w: Workload,
  spec: GatewaySpec,
  name: NonNullable<ReturnType<Projection['name']>>,
  host: string,
  now: number,
): void {
  const pin = name.rules.tlsCertSha256;
  const what = `gateway workload ${w.name}`;
  if (!spec.tls) {
    if (pin !== undefined)
      fail(
        'DEPLOY_TLS_REQUIRED',
        `${what}: name ${spec.name} is served over TLS with the certificate it pins (${pin.slice(0, 16)}…): add "tls": {"cert": CHAIN.pem, "key": KEY.pem} to the workload`,
      );
    return;
  }
  if (name.mode !== 'http')
    fail(
      'DEPLOY_TLS_NOT_HTTP',
      `${what}: name ${spec.name} is in ${name.mode} mode, where the gateway holds no certificate: drop "tls", or switch the name to http mode and pin the certificate`,
    );
  const leaf = chainOf(spec.tls.cert, `${what}.tls.cert`)[0]!;
  const sha = createHash('sha256').update(leaf.raw).digest('hex');
  if (pin !== sha)
    fail(
      'DEPLOY_TLS_NOT_PINNED',
      pin === undefined
        ? `${what}: name ${spec.name} pins no certificate: set "tlsCertSha256": "${sha}" in its rules with 'vdc name update ${spec.name} --rules FILE' first`
        : `${what}: the certificate's SHA-256 is ${sha}, but name ${spec.name} pins ${pin}: pin this one with 'vdc name update ${spec.name} --rules FILE' first (a renewal is a new pin), or give the pinned certificate`,
    );
  // subject 'never': only subjectAltName DNS entries count, as the gateway and browsers do.
  if (leaf.checkHost(host, { subject: 'never' }) === undefined)
    fail(
      'DEPLOY_TLS_WRONG_NAME',
      `${what}: the certificate's subjectAltName does not cover ${host}: make one for that host name`,
    );
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (now < from || now > to)
    fail(
      'DEPLOY_TLS_EXPIRED',
      `${what}: the certificate is valid from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}, not now: renew it and pin the new one`,
    );
}
