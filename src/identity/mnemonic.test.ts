import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VdcError } from '../core/errors.ts';
import { checkMnemonic, generateMnemonic, mnemonicToSeed } from './mnemonic.ts';

const code = (c: string) => (err: unknown) => err instanceof VdcError && err.code === c;
const ZERO = `${'abandon '.repeat(23)}art`;

describe('mnemonics', () => {
  test('generates 24 valid words, different each time', () => {
    const a = generateMnemonic();
    assert.equal(a.split(' ').length, 24);
    assert.equal(checkMnemonic(a), a);
    assert.notEqual(a, generateMnemonic());
  });

  test('reads a mnemonic typed with stray spaces and capitals', () => {
    assert.deepEqual(
      mnemonicToSeed(`  ${ZERO.toUpperCase().replaceAll(' ', '  \n')} `),
      mnemonicToSeed(ZERO),
    );
  });

  test('refuses the wrong number of words', () => {
    assert.throws(() => checkMnemonic(''), code('MNEMONIC_LENGTH'));
    assert.throws(
      () => checkMnemonic(ZERO.split(' ').slice(0, 12).join(' ')),
      code('MNEMONIC_LENGTH'),
    );
  });

  test('refuses a word outside the list, naming it and its place', () => {
    assert.throws(
      () => checkMnemonic(ZERO.replace('art', 'artt')),
      (err: unknown) =>
        code('MNEMONIC_WORD_UNKNOWN')(err) &&
        /word 24 is not/.test((err as Error).message) &&
        !(err as Error).message.includes('artt'),
    );
  });

  test('refuses valid words with a wrong checksum', () => {
    assert.throws(() => checkMnemonic(`${'abandon '.repeat(23)}zoo`), code('MNEMONIC_CHECKSUM'));
    const words = generateMnemonic().split(' ');
    [words[0], words[1]] = [words[1] ?? '', words[0] ?? ''];
    // Swapping two different words breaks the checksum with probability 255/256; skip the rare collision.
    if (words[0] !== words[1]) {
      try {
        checkMnemonic(words.join(' '));
      } catch (err) {
        assert.ok(code('MNEMONIC_CHECKSUM')(err));
      }
    }
  });
});
