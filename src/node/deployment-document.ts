import { createHash, randomBytes } from 'node:crypto';
import {
  assertExactKeys,
  assertInteger,
  assertObject,
  assertString,
  fail,
} from '../core/assert.ts';
import { canonicalBytes, type JsonValue } from '../core/canonical-json.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import type { Identity } from '../identity/index.ts';

/*
 * The deployment document (docs/node-api.md): a versioned, salted list of named workloads
 * that a twin asks one node to run under one contract. Its hash (SHA-256 of the RFC 8785
 * canonical form of everything but `signature`) is what the contract on the ledger carries,
 * so the contract can be created before the document is signed; the signature then binds
 * the hash to this ledger, this node and that contract, and a document signed for another
 * node, ledger or contract never verifies here.
 *
 * The parser checks shape only. Workload name uniqueness, kinds and each kind's spec are
 * checked later, in the order of docs/node-api.md, each with its own code.
 */

export const MAX_WORKLOADS = 64;
export const MAX_ID = 2 ** 48;
export const SALT_BYTES = 32;
/** Canonical bytes of a whole document; the relay's payload limit is 128 KiB. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const KIND = /^[a-z][a-z0-9-]{0,31}$/;

export interface Workload {
  name: string;
  kind: string;
  spec: { [key: string]: JsonValue };
}

/** The part the hash covers. */
export interface UnsignedDeployment {
  version: number;
  twin: number;
  salt: string;
  workloads: Workload[];
}

export interface DeploymentSignature {
  /** hex Ed25519 key: the twin's own signing key or a key it delegated contract.* to */
  signer: string;
  /** the ledger id the deployment is for */
  ledger: string;
  node: number;
  contract: number;
  /** hex Ed25519 signature under vdc/deployment/v1 over {ledger, node, contract, hash} */
  sig: string;
}

export interface Deployment extends UnsignedDeployment {
  signature: DeploymentSignature;
}

/** What the signature covers: the hash bound to one ledger, node and contract. */
export function signedPayload(
  hash: string,
  s: Pick<DeploymentSignature, 'ledger' | 'node' | 'contract'>,
): { ledger: string; node: number; contract: number; hash: string } {
  return { ledger: s.ledger, node: s.node, contract: s.contract, hash };
}

/** Hex SHA-256 of the canonical document without its signature. */
export function deploymentHash(doc: UnsignedDeployment): string {
  const unsigned = {
    version: doc.version,
    twin: doc.twin,
    salt: doc.salt,
    workloads: doc.workloads,
  };
  return createHash('sha256').update(canonicalBytes(unsigned)).digest('hex');
}

/** A fresh salt, so equal deployments of different contracts do not hash alike. */
export function newSalt(): string {
  return randomBytes(SALT_BYTES).toString('hex');
}

/**
 * Signs a deployment for one contract on one node of one ledger.
 * @throws VdcError DEPLOYMENT_MALFORMED when the unsigned part is not a valid document
 */
export function signDeployment(
  identity: Identity,
  doc: UnsignedDeployment,
  target: { ledger: string; node: number; contract: number },
): Deployment {
  const hash = deploymentHash(doc);
  const signature: DeploymentSignature = {
    signer: toHex(identity.signingPublicKey),
    ledger: target.ledger,
    node: target.node,
    contract: target.contract,
    sig: toHex(identity.sign(SIGNING_TAGS.deployment, signedPayload(hash, target))),
  };
  return parseDeployment({ ...doc, signature });
}

const CODE = 'DEPLOYMENT_MALFORMED';

/**
 * Checks the shape of a deployment as received (not its signature nor its workloads' specs).
 * @throws VdcError DEPLOYMENT_MALFORMED naming the field
 */
export function parseDeployment(value: unknown): Deployment {
  assertObject(value, 'deployment', CODE);
  assertExactKeys(
    value,
    'deployment',
    ['version', 'twin', 'salt', 'workloads', 'signature'],
    [],
    CODE,
  );
  const { version, twin, salt, workloads, signature } = value;
  assertInteger(version, 'deployment.version', 1, Number.MAX_SAFE_INTEGER, CODE);
  assertInteger(twin, 'deployment.twin', 1, MAX_ID, CODE);
  fromHex(salt, 'deployment.salt', SALT_BYTES, CODE);
  if (!Array.isArray(workloads) || workloads.length > MAX_WORKLOADS)
    fail(CODE, `'deployment.workloads' must be an array of at most ${MAX_WORKLOADS} workloads`);
  const parsed = workloads.map((w: unknown, i) => parseWorkload(w, `deployment.workloads[${i}]`));
  assertObject(signature, 'deployment.signature', CODE);
  assertExactKeys(
    signature,
    'deployment.signature',
    ['signer', 'ledger', 'node', 'contract', 'sig'],
    [],
    CODE,
  );
  fromHex(signature['signer'], 'deployment.signature.signer', 32, CODE);
  fromHex(signature['ledger'], 'deployment.signature.ledger', 32, CODE);
  assertInteger(signature['node'], 'deployment.signature.node', 1, MAX_ID, CODE);
  assertInteger(signature['contract'], 'deployment.signature.contract', 1, MAX_ID, CODE);
  fromHex(signature['sig'], 'deployment.signature.sig', 64, CODE);
  const doc: Deployment = {
    version,
    twin,
    salt: salt as string,
    workloads: parsed,
    signature: signature as unknown as DeploymentSignature,
  };
  const size = canonicalBytes(doc).length;
  if (size > MAX_DOCUMENT_BYTES)
    fail(
      CODE,
      `the deployment is ${size} bytes in canonical form; the limit is ${MAX_DOCUMENT_BYTES}`,
    );
  return doc;
}

function parseWorkload(value: unknown, label: string): Workload {
  assertObject(value, label, CODE);
  assertExactKeys(value, label, ['name', 'kind', 'spec'], [], CODE);
  assertString(value['name'], `${label}.name`, { pattern: NAME }, CODE);
  assertString(value['kind'], `${label}.kind`, { pattern: KIND }, CODE);
  assertObject(value['spec'], `${label}.spec`, CODE);
  return value as unknown as Workload;
}
