import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { fail } from '../core/assert.ts';
import type { NameRecord } from '../ledger/index.ts';
import { frameObject } from './tunnel-frame.ts';

/*
 * The owner's certificate for an http-mode name served over TLS (docs/gateway.md, "http
 * mode over TLS"). The name contract pins only the SHA-256 of the leaf certificate
 * (`rules.tlsCertSha256`); the chain and the private key travel from the backend over its
 * authenticated tunnel, right after the hello, and live in the gateway's memory only, as a
 * TLS context that goes when the tunnel does. Never on the ledger, never on the gateway's
 * disk.
 */

/** What the backend presents: PEM certificate chain (leaf first) and PEM private key. */
export interface TunnelTlsMaterial {
  cert: string;
  key: string;
}

/** What the gateway keeps for a tunnel that presented an accepted certificate. */
export interface BackendTls {
  certSha256: string;
  context: SecureContext;
  notBefore: number;
  notAfter: number;
}

const MAX_CHAIN = 8;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

function chainOf(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0 || blocks.length > MAX_CHAIN)
    fail(
      'TUNNEL_CERT_INVALID',
      `the TLS certificate file must hold 1 to ${MAX_CHAIN} PEM certificates, leaf first; it holds ${blocks.length}`,
    );
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    fail('TUNNEL_CERT_INVALID', `a TLS certificate does not parse: ${(err as Error).message}`, err);
  }
}

/** Hex SHA-256 of a certificate's DER: what `rules.tlsCertSha256` pins. */
export function certSha256(cert: X509Certificate | Buffer | string): string {
  const x = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return createHash('sha256').update(x.raw).digest('hex');
}

/**
 * The backend's side: checks the files parse and returns the leaf's hash (signed in the
 * hello) with the material to send. The gateway checks everything again.
 * @throws VdcError TUNNEL_CERT_INVALID
 */
export function loadTunnelTls(
  cert: Buffer | string,
  key: Buffer | string,
): TunnelTlsMaterial & { sha256: string } {
  const certPem = cert.toString();
  const leaf = chainOf(certPem)[0]!;
  return { cert: certPem, key: key.toString(), sha256: certSha256(leaf) };
}

/** Parses the certificate frame. @throws VdcError TUNNEL_FRAME_MALFORMED */
export function parseTlsFrame(value: unknown): TunnelTlsMaterial {
  const f = frameObject(value, 'certificate frame');
  const keys = Object.keys(f).sort().join(',');
  if (keys !== 'cert,key' || typeof f['cert'] !== 'string' || typeof f['key'] !== 'string')
    fail('TUNNEL_FRAME_MALFORMED', 'the tunnel certificate frame is {cert, key}, both PEM text');
  return { cert: f['cert'], key: f['key'] };
}

/**
 * Whether a tunnel with `tls` (or none) may serve `record` now as far as certificates go:
 * the name pins a certificate exactly when the tunnel holds it, and it is within its
 * validity. Run at acceptance and again at every ledger head.
 * @throws VdcError TUNNEL_CERT_NOT_HTTP, TUNNEL_CERT_NOT_PINNED, TUNNEL_CERT_REQUIRED,
 *   TUNNEL_CERT_EXPIRED
 */
export function checkTunnelTls(
  record: NameRecord,
  tls: { certSha256: string; notBefore: number; notAfter: number } | undefined,
  now: number,
): void {
  const pin = record.rules.tlsCertSha256;
  if (tls === undefined) {
    if (pin !== undefined)
      fail(
        'TUNNEL_CERT_REQUIRED',
        `name ${record.name} is served over TLS with the certificate its contract pins (${pin.slice(0, 16)}…): start the tunnel with that certificate and its key`,
      );
    return;
  }
  if (record.mode !== 'http')
    fail(
      'TUNNEL_CERT_NOT_HTTP',
      `name ${record.name} is in ${record.mode} mode, where the gateway never holds a certificate: drop the certificate, or switch the name to http mode and pin it`,
    );
  if (pin !== tls.certSha256)
    fail(
      'TUNNEL_CERT_NOT_PINNED',
      pin === undefined
        ? `name ${record.name} pins no certificate: set rules.tlsCertSha256 to ${tls.certSha256} with 'vdc name update' first`
        : `the certificate's SHA-256 is ${tls.certSha256.slice(0, 16)}…, but name ${record.name} pins ${pin.slice(0, 16)}…: present the pinned certificate, or update the pin`,
    );
  if (now < tls.notBefore || now > tls.notAfter)
    fail(
      'TUNNEL_CERT_EXPIRED',
      `the certificate is valid from ${new Date(tls.notBefore).toISOString()} to ${new Date(tls.notAfter).toISOString()}, not now: renew it and pin the new one`,
    );
}

/**
 * The gateway's side: checks the presented chain and key for `record` served as
 * `host` (NAME.DOMAIN), and makes the TLS context. The leaf must be the one the hello
 * signed and the name pins, name `host` in its subjectAltName, be valid now, and match the key.
 * @throws VdcError TUNNEL_CERT_INVALID, TUNNEL_CERT_KEY_MISMATCH, TUNNEL_CERT_WRONG_NAME,
 *   and those of checkTunnelTls
 */
export function acceptTunnelTls(
  material: TunnelTlsMaterial,
  at: { record: NameRecord; host: string; signedSha256: string; now: number },
): BackendTls {
  const chain = chainOf(material.cert);
  const leaf = chain[0]!;
  const sha = certSha256(leaf);
  if (sha !== at.signedSha256)
    fail(
      'TUNNEL_CERT_INVALID',
      `the certificate presented (${sha.slice(0, 16)}…) is not the one the tunnel hello signed (${at.signedSha256.slice(0, 16)}…)`,
    );
  const tls = {
    certSha256: sha,
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
  };
  checkTunnelTls(at.record, tls, at.now);
  // subject 'never': only subjectAltName DNS entries count, as browsers do (RFC 9525).
  if (leaf.checkHost(at.host, { subject: 'never' }) === undefined)
    fail(
      'TUNNEL_CERT_WRONG_NAME',
      `the certificate's subjectAltName does not cover ${at.host}: make one for that host name`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(material.key);
  } catch (err) {
    fail(
      'TUNNEL_CERT_INVALID',
      `the TLS private key does not parse (PEM, unencrypted): ${(err as Error).message}`,
      err,
    );
  }
  if (!leaf.checkPrivateKey(key))
    fail(
      'TUNNEL_CERT_KEY_MISMATCH',
      "the TLS private key is not the certificate's key: give the key the certificate was made for",
    );
  try {
    const context = createSecureContext({
      cert: material.cert,
      key: material.key,
      minVersion: 'TLSv1.2',
    });
    return { ...tls, context };
  } catch (err) {
    fail(
      'TUNNEL_CERT_INVALID',
      `the certificate and key make no TLS context: ${(err as Error).message}`,
      err,
    );
  }
}
