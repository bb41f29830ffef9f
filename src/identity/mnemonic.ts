import { randomBytes } from 'node:crypto';
import { entropyToMnemonic, mnemonicToEntropy, mnemonicToSeedSync } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { fail } from '../core/assert.ts';

/*
 * BIP-39 mnemonics of 24 English words (256 bits of entropy). The user's whole VDC can be
 * rebuilt from these words (P7), so they are checked word by word and by checksum with
 * errors that say which.
 */

export const MNEMONIC_WORDS = 24;
const WORDS = new Set(wordlist);

export function generateMnemonic(): string {
  return entropyToMnemonic(randomBytes(32), wordlist);
}

/** Lowercases and collapses whitespace, so a mnemonic typed with stray spaces still reads. */
export function normalizeMnemonic(text: string): string {
  return text.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ');
}

/**
 * Checks a mnemonic and returns it normalised.
 * @throws VdcError MNEMONIC_LENGTH, MNEMONIC_WORD_UNKNOWN, MNEMONIC_CHECKSUM
 */
export function checkMnemonic(text: string): string {
  const mnemonic = normalizeMnemonic(text);
  const words = mnemonic === '' ? [] : mnemonic.split(' ');
  if (words.length !== MNEMONIC_WORDS)
    fail(
      'MNEMONIC_LENGTH',
      `a VDC mnemonic has ${MNEMONIC_WORDS} words, got ${words.length}: give all of them, in order`,
    );
  words.forEach((word, i) => {
    if (!WORDS.has(word))
      fail(
        'MNEMONIC_WORD_UNKNOWN',
        // The word is part of a secret: name its place, never echo it into terminals and logs.
        `word ${i + 1} is not in the BIP-39 English word list: check its spelling`,
      );
  });
  try {
    mnemonicToEntropy(mnemonic, wordlist);
  } catch (cause) {
    fail(
      'MNEMONIC_CHECKSUM',
      'the words are valid but their checksum is not: a word is wrong or two are swapped',
      cause,
    );
  }
  return mnemonic;
}

/**
 * The 64-byte BIP-39 seed (empty BIP-39 passphrase) every key derives from.
 * @throws VdcError as checkMnemonic
 */
export function mnemonicToSeed(text: string): Buffer {
  return Buffer.from(mnemonicToSeedSync(checkMnemonic(text)));
}
