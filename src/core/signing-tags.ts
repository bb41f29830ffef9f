import { fail } from './assert.ts';

/**
 * The purposes VDC signs for (DESIGN §4). A signature covers `tag || 0x00 || canonical
 * payload`, so a signature made for one purpose never verifies for another. Bumping the
 * version of a format means a new tag.
 */
export const SIGNING_TAGS = {
  tx: 'vdc/tx/v1',
  deployment: 'vdc/deployment/v1',
  envelope: 'vdc/envelope/v1',
  head: 'vdc/head/v1',
  login: 'vdc/login/v1',
  tunnel: 'vdc/tunnel/v1',
  relay: 'vdc/relay/v1',
  enrol: 'vdc/enrol/v1',
  grant: 'vdc/grant/v1',
} as const;

export type SigningTag = (typeof SIGNING_TAGS)[keyof typeof SIGNING_TAGS];

/** Everything under `vdc/` is VDC's own, including versions not yet defined. */
export const RESERVED_TAG_PREFIX = 'vdc/';

// Printable ASCII without NUL: the 0x00 separator then makes tag and payload unambiguous.
const TAG_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** @throws VdcError TAG_INVALID when the tag is empty, too long or not printable ASCII */
export function assertTag(tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || !TAG_PATTERN.test(tag)) {
    fail(
      'TAG_INVALID',
      `a signing tag is 1..128 printable ASCII characters without spaces, got ${JSON.stringify(tag)}`,
    );
  }
}

export function isReservedTag(tag: string): boolean {
  return tag.startsWith(RESERVED_TAG_PREFIX);
}

/** @throws VdcError TAG_INVALID, or TAG_RESERVED for a `vdc/` tag, which only VDC itself signs under */
export function assertUserTag(tag: unknown): asserts tag is string {
  assertTag(tag);
  if (isReservedTag(tag))
    fail(
      'TAG_RESERVED',
      `tag ${JSON.stringify(tag)} is reserved for VDC's own signatures (everything under vdc/): choose a tag of your own, such as myapp/release/v1`,
    );
}
