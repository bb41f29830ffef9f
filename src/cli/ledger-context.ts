import { type Command, Option } from 'commander';
import { fail } from '../core/assert.ts';
import { vdcHome } from '../core/vdc-home.ts';
import type { Identity } from '../identity/index.ts';
import { LedgerClient } from '../ledger/index.ts';
import type { CliIo } from './cli-io.ts';
import { unlockIdentity } from './id-command.ts';

/*
 * What commands that talk to a ledger share: the --ledger / --ledger-key flags (VDC_LEDGER
 * as default), the pinning notice on first contact, and the user's identity.
 */

export interface LedgerFlags {
  ledger?: string;
  ledgerKey?: string;
  json?: boolean;
}

/** Adds --ledger, --ledger-key and --json to a command. */
export function withLedgerFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--ledger <url>', 'ledger URL (default: $VDC_LEDGER)'))
    .addOption(new Option('--ledger-key <hex>', "the ledger's public key, pinned on first contact"))
    .option('--json', 'print JSON');
}

export async function connectLedger(io: CliIo, flags: LedgerFlags): Promise<LedgerClient> {
  const url = flags.ledger ?? io.env['VDC_LEDGER'];
  if (!url)
    fail(
      'USAGE',
      "no ledger given: pass --ledger URL or set VDC_LEDGER (vdc up prints the local grid's)",
    );
  if (!/^https?:\/\/[^\s]+$/.test(url))
    fail('USAGE', `'--ledger' must be an http(s) URL, got ${JSON.stringify(url)}`);
  return LedgerClient.connect({
    url,
    home: vdcHome(io.env),
    ...(flags.ledgerKey ? { ledgerKey: flags.ledgerKey } : {}),
    say: (line) => io.err(`${line}\n`),
  });
}

/** The ledger client and the unlocked identity, for commands that sign. */
export async function connectAsUser(
  io: CliIo,
  flags: LedgerFlags,
): Promise<{ client: LedgerClient; identity: Identity }> {
  if (io.env['VDC_PASSPHRASE'] === undefined) {
    // A prompt first, so nothing the ledger client says lands in the middle of it.
    const identity = await unlockIdentity(io);
    return { client: await connectLedger(io, flags), identity };
  }
  // No prompt: the keystore's scrypt runs on the thread pool while the ledger syncs.
  const [identity, client] = await Promise.all([unlockIdentity(io), connectLedger(io, flags)]);
  return { client, identity };
}

/** Parses a positive integer argument. @throws VdcError USAGE */
export function positiveInt(value: string, label: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value))
    fail('USAGE', `'${label}' must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}
