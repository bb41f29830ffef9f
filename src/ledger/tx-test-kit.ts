import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../core/error-codes.ts';
import { VdcError } from '../core/errors.ts';
import { toHex } from '../core/hex.ts';
import { SIGNING_TAGS } from '../core/signing-tags.ts';
import { Identity } from '../identity/index.ts';
import { ledgerId } from './ledger-id.ts';
import { type Applied, Projection } from './projection.ts';
import type { EnrolGrant } from './rules/enrol-grant.ts';
import type { Submission, Transaction, TxLeaf, TxType } from './tx-format.ts';

/*
 * Test support for the ledger's transactions (used by tests only): a ledger id, a
 * projection, a hand-moved clock and helpers that sign real transactions with real keys,
 * so every test goes through the same parsing, signature and rule path as production.
 */

export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 24 * 3600_000;

export interface Actor {
  identity: Identity;
  key: string;
  twin: number;
}

export interface TxOptions {
  nonce?: number;
  time?: number;
  ledger?: string;
  signer?: string;
}

export function newIdentity(): Identity {
  return Identity.fromSeed(randomBytes(64));
}

export function keyOf(identity: Identity): string {
  return toHex(identity.signingPublicKey);
}

export class TxKit {
  readonly ledgerIdentity = newIdentity();
  readonly ledger = ledgerId(this.ledgerIdentity.signingPublicKey);
  readonly projection = new Projection(this.ledger);
  now = T0;
  readonly #nonces = new Map<string, number>();

  advance(ms: number): void {
    this.now += ms;
  }

  nextNonce(identity: Identity): number {
    const key = keyOf(identity);
    const n = (this.#nonces.get(key) ?? 0) + 1;
    this.#nonces.set(key, n);
    return n;
  }

  tx(
    identity: Identity,
    type: TxType,
    twin: number,
    body: object,
    opts: TxOptions = {},
  ): Transaction {
    const tx: Transaction = {
      type,
      twin,
      signer: opts.signer ?? keyOf(identity),
      nonce: opts.nonce ?? this.nextNonce(identity),
      ledger: opts.ledger ?? this.ledger,
      body: body as Record<string, unknown>,
    };
    if (opts.time !== undefined) tx.time = opts.time;
    return tx;
  }

  sign(identity: Identity, tx: Transaction, tag: string = SIGNING_TAGS.tx): Submission {
    return { tx, sig: toHex(identity.sign(tag, tx)) };
  }

  submission(
    identity: Identity,
    type: TxType,
    twin: number,
    body: object,
    opts: TxOptions = {},
  ): Submission {
    return this.sign(identity, this.tx(identity, type, twin, body, opts));
  }

  leaf(submission: Submission, acceptedAt = this.now): TxLeaf {
    return { seq: this.projection.size, acceptedAt, ...submission };
  }

  /** Signs and applies; throws what the projection throws. */
  submit(
    identity: Identity,
    type: TxType,
    twin: number,
    body: object,
    opts: TxOptions = {},
  ): Applied {
    return this.projection.apply(this.leaf(this.submission(identity, type, twin, body, opts)));
  }

  /** Asserts the leaf is refused with `code` and the projection is exactly unchanged. */
  refuse(leaf: TxLeaf | Submission, code: ErrorCode): VdcError {
    const full = 'seq' in leaf ? leaf : this.leaf(leaf);
    const before = this.projection.canonicalSnapshot();
    let caught: unknown;
    try {
      this.projection.apply(full);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof VdcError, `expected a VdcError ${code}, got ${String(caught)}`);
    assert.equal(caught.code, code, caught.message);
    assert.equal(
      this.projection.canonicalSnapshot(),
      before,
      'a refused transaction changed the projection',
    );
    return caught;
  }

  /** Like refuse, for a transaction signed here. */
  refuseTx(
    identity: Identity,
    type: TxType,
    twin: number,
    body: object,
    code: ErrorCode,
    opts: TxOptions = {},
  ): VdcError {
    return this.refuse(this.submission(identity, type, twin, body, opts), code);
  }

  // --- scenario helpers

  twin(relays: string[] = []): Actor {
    const identity = newIdentity();
    const applied = this.submit(identity, 'twin.create', 0, {
      encryptionKey: toHex(identity.encryptionPublicKey),
      relays,
    });
    return { identity, key: keyOf(identity), twin: applied.created.twins! };
  }

  farm(owner: Actor, name = 'farm'): number {
    return this.submit(owner.identity, 'farm.create', owner.twin, { name }).created.farms!;
  }

  enrolGrant(owner: Identity, grant: Partial<EnrolGrant> & { farm: number; nodeKey: string }) {
    const full: EnrolGrant = { ledger: this.ledger, expires: this.now + DAY, ...grant };
    return { grant: full, grantSignature: toHex(owner.sign(SIGNING_TAGS.enrol, full)) };
  }

  nodeBody(
    identity: Identity,
    farm: number,
    signed: { grant: EnrolGrant; grantSignature: string },
  ) {
    return { farm, encryptionKey: toHex(identity.encryptionPublicKey), relays: [], ...signed };
  }

  node(farmer: Actor, farm: number): Actor & { node: number } {
    const identity = newIdentity();
    const key = keyOf(identity);
    const signed = this.enrolGrant(farmer.identity, { farm, nodeKey: key });
    const applied = this.submit(
      identity,
      'node.register',
      0,
      this.nodeBody(identity, farm, signed),
    );
    return { identity, key, twin: applied.created.twins!, node: applied.created.nodes! };
  }

  gateway(farmer: Actor, farm: number, domain = 'gw.example.org'): number {
    return this.submit(farmer.identity, 'gateway.register', farmer.twin, {
      farm,
      domain,
      tunnelAddress: '192.0.2.1:4443',
      tunnelSpkiSha256: toHex(randomBytes(32)),
    }).created.gateways!;
  }

  contractBody(node: number, extra: Record<string, unknown> = {}) {
    return {
      node,
      deploymentHash: toHex(randomBytes(32)),
      deployment: randomBytes(48).toString('base64'),
      expiresAt: this.now + 30 * DAY,
      networks: ['net1'],
      ...extra,
    };
  }

  contract(owner: Actor, node: number, extra: Record<string, unknown> = {}): number {
    return this.submit(
      owner.identity,
      'contract.create',
      owner.twin,
      this.contractBody(node, extra),
    ).created.contracts!;
  }

  /** A twin with a farm, one node and one gateway. */
  grid(): { farmer: Actor; farm: number; node: Actor & { node: number }; gateway: number } {
    const farmer = this.twin();
    const farm = this.farm(farmer);
    const node = this.node(farmer, farm);
    const gateway = this.gateway(farmer, farm);
    return { farmer, farm, node, gateway };
  }
}
