import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { toHex } from '../core/hex.ts';
import { httpJson } from '../core/http-client.ts';
import type { Identity } from '../identity/index.ts';
import { LedgerFollower } from './ledger-follower.ts';
import { ledgerId } from './ledger-id.ts';
import { pinLedgerKey } from './ledger-pin.ts';
import { encodeLeaf, type Leaf } from './log-leaf.ts';
import { parseInclusionProof, verifyInclusion } from './merkle-verify.ts';
import { type SignedHead, verifyHead } from './signed-head.ts';
import { SELF_TYPES, type TxType } from './tx-format.ts';
import { signTransaction } from './tx-sign.ts';

/*
 * What a user's tools use to act on a ledger: a verifying follower (for twin ids and
 * nonces, taken from the verified log, not from the server) plus submission with proof:
 * the answer to a submission is accepted only with a head signed by the pinned key and an
 * RFC 9162 inclusion proof of the leaf in it.
 */

export interface Receipt {
  leaf: Leaf;
  created: Record<string, number>;
  head: SignedHead;
}

export class LedgerClient {
  readonly follower: LedgerFollower;
  readonly #clock: Clock;

  constructor(follower: LedgerFollower, clock: Clock = systemClock) {
    this.follower = follower;
    this.#clock = clock;
  }

  /**
   * Pins the ledger's key (see ledger-pin.ts), then follows it with the last verified head
   * kept under `$VDC_HOME/ledgers/<ledger id>/`.
   * @throws VdcError LEDGER_KEY_MISMATCH, LEDGER_*, PEER_*
   */
  static async connect(opts: {
    url: string;
    home: string;
    ledgerKey?: string;
    say?: (line: string) => void;
  }): Promise<LedgerClient> {
    const pin = await pinLedgerKey(opts.home, opts.url, opts.ledgerKey);
    if (pin.notice) opts.say?.(pin.notice);
    const follower = new LedgerFollower({
      url: opts.url,
      ledgerKey: pin.key,
      stateFile: join(opts.home, 'ledgers', ledgerId(pin.key), 'head.json'),
    });
    await follower.sync();
    return new LedgerClient(follower);
  }

  /** The twin `identity` acts for: its own, or the twin that delegated its key. */
  twinOf(identity: Identity): number | undefined {
    const key = toHex(identity.signingPublicKey);
    const view = this.follower.view;
    return view.twinByKey(key)?.id ?? view.delegation(key)?.twin;
  }

  /**
   * Signs and submits a transaction; resolves with the leaf once it is proven in a signed head.
   * @throws VdcError TWIN_NOT_REGISTERED when the identity has no twin yet; the ledger's refusal code;
   *   HEAD_*, PROOF_* when the answer does not prove the leaf was logged
   */
  async submit(identity: Identity, type: TxType, body: object): Promise<Receipt> {
    await this.follower.sync();
    const self = SELF_TYPES.includes(type);
    const twin = self ? 0 : this.twinOf(identity);
    if (twin === undefined)
      fail(
        'TWIN_NOT_REGISTERED',
        `your key ${toHex(identity.signingPublicKey).slice(0, 16)}… has no twin on this ledger: run 'vdc twin register' first`,
      );
    const nonce = this.follower.view.nextNonce(toHex(identity.signingPublicKey));
    const submission = signTransaction(identity, {
      type,
      twin,
      nonce,
      ledger: this.follower.ledger,
      body,
      time: this.#clock.now(),
    });
    const answer = (await httpJson(`${this.follower.url}/v1/submit`, {
      body: submission,
    })) as unknown as Receipt;
    const head = verifyHead(answer.head, this.follower.ledgerKey);
    const leaf = encodeLeaf(answer.leaf);
    if (
      canonicalize(answer.leaf.tx) !== canonicalize(submission.tx) ||
      answer.leaf.sig !== submission.sig
    ) {
      fail(
        'LEDGER_STATE_MISMATCH',
        'the ledger answered with a leaf that is not the submitted transaction',
      );
    }
    if (leaf.seq >= head.size)
      fail(
        'LEDGER_STATE_MISMATCH',
        `the answered head of size ${head.size} cannot include leaf ${leaf.seq}`,
      );
    const proof = parseInclusionProof(
      await httpJson(`${this.follower.url}/v1/proofs/inclusion?seq=${leaf.seq}&size=${head.size}`),
    );
    verifyInclusion(proof, leaf.hash, Buffer.from(head.root, 'hex'));
    await this.follower.sync(head);
    // The ids come from this follower's own rules, not from the server's answer.
    return { leaf: answer.leaf, created: this.follower.createdBy(leaf.seq) ?? {}, head };
  }
}
