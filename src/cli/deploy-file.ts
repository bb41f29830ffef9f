import { dirname, resolve } from 'node:path';
import { assertExactKeys, assertObject, assertString, fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import { parseJson } from '../core/strict-json.ts';
import {
  checkWorkloadSpec,
  MAX_SECRET_BYTES,
  MAX_WORKLOADS,
  newSalt,
  type OwnerCopy,
  parseDeployment,
  sealSecret,
  sealWorkloadSecrets,
  type UnsignedDeployment,
  WORKLOAD_KINDS,
  type Workload,
  type WorkloadKind,
} from '../node/index.ts';
import { type GatewayTls, loadGatewayTls } from './deploy-tls.ts';

/*
 * The file `vdc deploy` and `vdc deployment update` read (docs/deploy.md): `{"workloads":
 * [{name, kind, spec}]}` as the node's document has them, except that a container's
 * `secrets` hold plaintext, which the CLI seals to the node, and a gateway workload may
 * leave out its `grant`, which the CLI signs, and its `tls` names PEM files (or holds PEM
 * text) whose key the CLI seals to the node (docs/node-gateway.md). Everything that can be
 * checked without the network is checked here, before the keystore is opened and before
 * anything reaches the ledger; every refusal is DEPLOY_FILE_INVALID naming the file and the
 * field, except a certificate's own (DEPLOY_TLS_*, deploy-tls.ts).
 */

const CODE = 'DEPLOY_FILE_INVALID';
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
/** A sealed value's stand-in while the spec's shape is checked before sealing. */
const PLACEHOLDER = 'AAAA';
/** The owner's copy keeps a gateway workload's TLS key under this entry of its `secrets`. */
export const TLS_KEY_ENTRY = 'tls.key';
/** A grant's stand-in while a gateway workload without one is checked; `vdc deploy` signs the real one. */
const GRANT_PLACEHOLDER = '00'.repeat(64);
/** The ledger's bound on a contract's networks (src/ledger/rules/contract.ts). */
const MAX_CONTRACT_NETWORKS = 8;

export interface DeployFile {
  /** workloads as in the file, secrets still plaintext; a gateway's `tls` as PEM text */
  workloads: Workload[];
}

/** Runs a check and turns its refusal into DEPLOY_FILE_INVALID prefixed with the file. */
function inFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    const e = asVdcError(err);
    if (e.code === 'INTERNAL') throw e;
    fail(CODE, `${file}: ${e.message}`, e);
  }
}

function isKind(kind: string): kind is WorkloadKind {
  return (WORKLOAD_KINDS as readonly string[]).includes(kind);
}

function plaintextSecrets(w: Workload, label: string): Record<string, string> {
  const secrets = w.spec['secrets'];
  if (secrets === undefined) return {};
  assertObject(secrets, `${label}.spec.secrets`, CODE);
  for (const [k, v] of Object.entries(secrets)) {
    assertString(v, `${label}.spec.secrets.${k}`, {}, CODE);
    const bytes = Buffer.byteLength(v, 'utf8');
    if (bytes > MAX_SECRET_BYTES)
      fail(
        CODE,
        `'${label}.spec.secrets.${k}' is ${bytes} bytes; a secret holds at most ${MAX_SECRET_BYTES}`,
      );
  }
  return secrets as Record<string, string>;
}

function withSecrets(w: Workload, secrets: Record<string, string> | undefined): Workload {
  if (secrets === undefined) return w;
  return { ...w, spec: { ...w.spec, secrets } };
}

/** Runs a certificate check, its DEPLOY_TLS_* code kept, the message prefixed with the file. */
function tlsInFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    const e = asVdcError(err);
    if (!e.code.startsWith('DEPLOY_TLS_')) throw e;
    fail(e.code, `${file}: ${e.message}`, e);
  }
}

/**
 * Parses and checks a deploy file. A gateway workload's `tls` files are read relative to
 * `dir`: by default the file's own folder (the working directory for stdin).
 * @throws VdcError DEPLOY_FILE_INVALID naming the file and the field; DEPLOY_TLS_INVALID,
 *   DEPLOY_TLS_KEY_MISMATCH for a gateway workload's certificate and key
 */
export function parseDeployFile(
  data: Uint8Array,
  file: string,
  dir = file === 'stdin' ? process.cwd() : dirname(resolve(file)),
): DeployFile {
  const doc = inFile(file, () => parseJson(data));
  const tls = new Map<number, GatewayTls>();
  // The certificates first, outside inFile: their refusals keep their own codes.
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    const list = (doc as Record<string, unknown>)['workloads'];
    for (const [i, value] of (Array.isArray(list) ? list : []).entries()) {
      const spec = (value as { kind?: unknown; spec?: unknown } | null)?.spec;
      if ((value as { kind?: unknown } | null)?.kind !== 'gateway') continue;
      const given = (spec as Record<string, unknown> | null | undefined)?.['tls'];
      if (given === undefined || typeof spec !== 'object') continue;
      tls.set(
        i,
        tlsInFile(file, () => loadGatewayTls(given, `workloads[${i}].spec.tls`, dir)),
      );
    }
  }
  return inFile(file, () => {
    assertObject(doc, 'file', CODE);
    assertExactKeys(doc, 'file', ['workloads'], [], CODE);
    const list = doc['workloads'];
    if (!Array.isArray(list) || list.length < 1 || list.length > MAX_WORKLOADS)
      fail(CODE, `'workloads' must be an array of 1..${MAX_WORKLOADS} workloads`);
    const seen = new Set<string>();
    const workloads = list.map((value: JsonValue, i): Workload => {
      const label = `workloads[${i}]`;
      assertObject(value, label, CODE);
      assertExactKeys(value, label, ['name', 'kind', 'spec'], [], CODE);
      assertString(value['name'], `${label}.name`, { pattern: NAME }, CODE);
      const name = value['name'];
      if (seen.has(name)) fail(CODE, `'${label}.name': workload ${name} is named twice`);
      seen.add(name);
      const kind = value['kind'];
      assertString(kind, `${label}.kind`, {}, CODE);
      if (!isKind(kind))
        fail(
          CODE,
          `'${label}.kind' is ${JSON.stringify(kind)}; the kinds are ${WORKLOAD_KINDS.join(', ')}`,
        );
      assertObject(value['spec'], `${label}.spec`, CODE);
      const loaded = tls.get(i);
      const w = (loaded
        ? { ...value, spec: { ...value['spec'], tls: loaded } }
        : value) as unknown as Workload;
      const secrets = plaintextSecrets(w, `${label} (${name})`);
      // The spec is checked as the node will check it, with sealed stand-ins for the secrets.
      const standIns = w.spec['secrets'] === undefined ? undefined : { ...secrets };
      for (const k of Object.keys(standIns ?? {}))
        (standIns as Record<string, string>)[k] = PLACEHOLDER;
      const checked = { ...withSecrets(w, standIns) };
      // A gateway workload may leave out its grant: the CLI signs it (deploy-grants.ts).
      if (kind === 'gateway' && checked.spec['grant'] === undefined)
        checked.spec = { ...checked.spec, grant: GRANT_PLACEHOLDER };
      // ... and its key by a sealed stand-in: the CLI seals the real one to the node.
      if (loaded) checked.spec = { ...checked.spec, tls: { cert: loaded.cert, key: PLACEHOLDER } };
      checkWorkloadSpec(checked as Workload & { kind: WorkloadKind });
      return w;
    });
    contractNetworks(workloads);
    return { workloads };
  });
}

/**
 * The overlay networks the workloads join, which the contract must name.
 * @throws VdcError DEPLOY_FILE_INVALID when there are more than a contract holds
 */
export function contractNetworks(workloads: readonly Workload[]): string[] {
  const names = new Set<string>();
  for (const w of workloads) {
    const s = w.spec;
    if (w.kind === 'container' && Array.isArray(s['networks']))
      for (const n of s['networks']) names.add(String(n));
    if ((w.kind === 'zdb' || w.kind === 'network') && typeof s['network'] === 'string')
      names.add(s['network']);
  }
  if (names.size > MAX_CONTRACT_NETWORKS)
    fail(
      CODE,
      `the workloads join ${names.size} networks; a contract holds at most ${MAX_CONTRACT_NETWORKS}`,
    );
  return [...names].sort();
}

/** A gateway workload's TLS key sealed to the node, its plaintext kept for the owner's copy. */
function sealTlsKey(
  w: Workload,
  target: { twin: number; nodeKey: string },
  secrets: OwnerCopy['secrets'],
): Workload {
  const tls = w.spec['tls'] as GatewayTls | undefined;
  if (w.kind !== 'gateway' || tls === undefined) return w;
  secrets[w.name] = { [TLS_KEY_ENTRY]: Buffer.from(tls.key, 'utf8').toString('base64') };
  const key = sealSecret(tls.key, target.nodeKey, {
    twin: target.twin,
    workload: w.name,
    name: String(w.spec['name']),
    use: 'gateway-tls-key',
  });
  return { ...w, spec: { ...w.spec, tls: { cert: tls.cert, key } } };
}

/**
 * The document for one node (secrets and TLS keys sealed to its key) and the owner's copy of it.
 * @throws VdcError DEPLOY_FILE_INVALID when the sealed document exceeds the node's limits;
 *   KEY_INVALID when the node key is unusable
 */
export function buildDeployment(
  file: DeployFile,
  target: { twin: number; node: number; nodeKey: string; version: number },
): { unsigned: UnsignedDeployment; copy: OwnerCopy } {
  const secrets: OwnerCopy['secrets'] = {};
  const workloads = file.workloads.map((w) => {
    if (w.kind === 'gateway') return sealTlsKey(w, target, secrets);
    const plain = w.spec['secrets'] as Record<string, string> | undefined;
    if (plain === undefined) return w;
    secrets[w.name] = Object.fromEntries(
      Object.entries(plain).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
    );
    return withSecrets(
      w,
      sealWorkloadSecrets(plain, target.nodeKey, { twin: target.twin, workload: w.name }),
    );
  });
  const unsigned: UnsignedDeployment = {
    version: target.version,
    twin: target.twin,
    salt: newSalt(),
    workloads,
  };
  // The node's own checks, with a stand-in signature: size and shape, before any contract.
  inFile('the sealed deployment', () =>
    parseDeployment({
      ...unsigned,
      signature: {
        signer: '0'.repeat(64),
        ledger: '0'.repeat(64),
        node: target.node,
        contract: 1,
        sig: '0'.repeat(128),
      },
    }),
  );
  return { unsigned, copy: { node: target.node, deployment: unsigned, secrets } };
}
