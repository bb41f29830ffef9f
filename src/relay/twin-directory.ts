/*
 * What the relay and envelope receivers need to know about twins: their keys and relays.
 * The ledger's verifying follower implements this over its own projection (DESIGN §5: a
 * party making security decisions never trusts a server's word about state); tests use
 * fake-twin-directory.ts. Lookups are synchronous because a follower answers from memory,
 * and they are made on every use, so a key rotated on the ledger takes effect at once.
 */

/** A twin as the relay sees it. */
export interface DirectoryTwin {
  readonly id: number;
  /** Raw 32-byte Ed25519 public key. */
  readonly signingKey: Buffer;
  /** Raw 32-byte X25519 public key that envelopes are encrypted to. */
  readonly encryptionKey: Buffer;
  /** The relay URLs the twin listed on the ledger, the first being its home relay. */
  readonly relays: readonly string[];
}

export interface TwinDirectory {
  /** The id of the ledger this view belongs to (hex hash of its key); relay logins name it. */
  readonly ledger: string;
  twin(id: number): DirectoryTwin | undefined;
  /** The twin whose signing key is this lowercase hex key. */
  twinByKey(signingKeyHex: string): DirectoryTwin | undefined;
}
