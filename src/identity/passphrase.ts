import { closeSync, openSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { fail } from '../core/assert.ts';
import { VdcError } from '../core/errors.ts';

/*
 * The keystore passphrase comes from VDC_PASSPHRASE (scripts, CI) or from a prompt on the
 * controlling terminal. The prompt reads /dev/tty, not stdin, so stdin stays free for data
 * such as a mnemonic piped to `vdc id recover`; nothing is echoed.
 */

function promptHidden(question: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch (cause) {
    fail(
      'PASSPHRASE_REQUIRED',
      'a passphrase is needed and there is no terminal to ask on: set VDC_PASSPHRASE',
      cause,
    );
  }
  const input = new ReadStream(fd);
  const output = new WriteStream(fd);
  output.write(question);
  input.setRawMode(true);
  return new Promise((resolve, reject) => {
    let answer = '';
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.removeAllListeners('data');
      input.pause();
      output.write('\n');
      closeSync(fd);
      if (err) reject(err);
      else resolve(answer);
    };
    input.on('data', (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003')
          return done(new VdcError('PASSPHRASE_REQUIRED', 'interrupted: no passphrase was given'));
        if (ch === '\u0004') return done();
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    });
  });
}

export interface PassphraseOptions {
  /** Ask twice and require both to match (for a new keystore). */
  confirm?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * The passphrase from VDC_PASSPHRASE, else from a hidden prompt.
 * @throws VdcError PASSPHRASE_REQUIRED when neither is available; PASSPHRASE_MISMATCH
 */
export async function readPassphrase(opts: PassphraseOptions = {}): Promise<string> {
  const fromEnv = (opts.env ?? process.env)['VDC_PASSPHRASE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const first = await promptHidden('Keystore passphrase: ');
  if (opts.confirm) {
    const second = await promptHidden('Repeat the passphrase: ');
    if (first !== second)
      fail('PASSPHRASE_MISMATCH', 'the two passphrases differ: run the command again');
  }
  return first;
}
