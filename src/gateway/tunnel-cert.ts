import { type ExecFileSyncOptions, execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fail } from '../core/assert.ts';

/*
 * The gateway's tunnel key and its self-signed certificate. Backends do not check the
 * certificate chain or name: they pin the SHA-256 of its SubjectPublicKeyInfo, which the
 * operator published in gateway.register. The certificate is made with the `openssl` CLI
 * (the field's standard tool, already on every Debian host) rather than hand-written ASN.1.
 */

export interface TunnelCert {
  key: Buffer;
  cert: Buffer;
  /** hex SHA-256 of the DER SubjectPublicKeyInfo: what the ledger publishes and backends pin */
  spkiSha256: string;
  created: boolean;
}

/** SHA-256 of a PEM/DER certificate's public key in DER SPKI form. */
export function certSpkiSha256(cert: Buffer | string): string {
  const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

/** SHA-256 of a PEM private key's public half in DER SPKI form. */
export function keySpkiSha256(keyPem: Buffer | string): string {
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

/**
 * Makes a P-256 key (mode 0600) and a self-signed certificate for `cn` with the openssl CLI;
 * with `san`, the certificate also names that DNS host (what TLS clients verify). With
 * `notBefore`/`notAfter` (tests of expired certificates), `openssl ca` signs it instead of
 * `openssl req -x509`, which cannot set dates in OpenSSL 3.0.
 * @throws Error when openssl fails
 */
export function makeSelfSignedCert(
  keyFile: string,
  certFile: string,
  o: { cn: string; days: number; san?: string; notBefore?: Date; notAfter?: Date },
): void {
  const subject = [
    '-subj',
    `/CN=${o.cn}`,
    ...(o.san ? ['-addext', `subjectAltName=DNS:${o.san}`] : []),
  ];
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const quiet: ExecFileSyncOptions = { stdio: ['ignore', 'ignore', 'pipe'] };
  if (o.notBefore === undefined && o.notAfter === undefined) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        ...ecKey,
        '-days',
        String(o.days),
        ...subject,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      quiet,
    );
  } else {
    const from = o.notBefore ?? new Date();
    const to = o.notAfter ?? new Date(from.getTime() + o.days * 86_400_000);
    const asn1 = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
    const dir = mkdtempSync(join(tmpdir(), 'vdc-ca-'));
    try {
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), '01\n');
      writeFileSync(
        join(dir, 'ca.cnf'),
        `[ca]\ndefault_ca = d\n[d]\ndatabase = ${dir}/index.txt\nnew_certs_dir = ${dir}\nserial = ${dir}/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n`,
      );
      const csr = join(dir, 'req.csr');
      execFileSync(
        'openssl',
        ['req', '-new', ...ecKey, ...subject, '-keyout', keyFile, '-out', csr],
        quiet,
      );
      execFileSync(
        'openssl',
        [
          'ca',
          '-batch',
          '-selfsign',
          '-notext',
          '-config',
          join(dir, 'ca.cnf'),
          '-keyfile',
          keyFile,
          '-in',
          csr,
          '-out',
          certFile,
          '-startdate',
          asn1(from),
          '-enddate',
          asn1(to),
        ],
        quiet,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  chmodSync(keyFile, 0o600);
}

/**
 * Loads the tunnel key and certificate, creating both (P-256, 10 years) when the key file
 * does not exist yet.
 * @throws VdcError GATEWAY_CERT_FAILED when openssl fails or key and certificate do not match
 */
export function loadOrCreateTunnelCert(keyFile: string, certFile: string, cn: string): TunnelCert {
  let created = false;
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    if (existsSync(keyFile) !== existsSync(certFile))
      fail(
        'GATEWAY_CERT_FAILED',
        `only one of ${keyFile} and ${certFile} exists: restore the other, or remove both to make a new tunnel key (then backends must pin the new key from a new gateway registration)`,
      );
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    mkdirSync(dirname(certFile), { recursive: true });
    try {
      makeSelfSignedCert(keyFile, certFile, { cn, days: 3650 });
    } catch (err) {
      fail(
        'GATEWAY_CERT_FAILED',
        `openssl could not make the tunnel key and certificate: ${(err as Error).message}; is the openssl CLI installed?`,
        err,
      );
    }
    created = true;
  }
  const key = readFileSync(keyFile);
  const cert = readFileSync(certFile);
  const spkiSha256 = certSpkiSha256(cert);
  if (keySpkiSha256(key) !== spkiSha256)
    fail(
      'GATEWAY_CERT_FAILED',
      `${certFile} is not the certificate of the key in ${keyFile}: restore the matching pair`,
    );
  return { key, cert, spkiSha256, created };
}
