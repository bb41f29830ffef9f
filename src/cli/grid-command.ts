import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { toHex } from '../core/hex.ts';
import { vdcHome } from '../core/vdc-home.ts';
import { gridDown, gridStatus, gridUp } from '../grid/index.ts';
import {
  createKeystore,
  generateMnemonic,
  type Identity,
  mnemonicToSeed,
  openKeystore,
  readPassphrase,
} from '../identity/index.ts';
import { LedgerClient } from '../ledger/index.ts';
import type { CliIo } from './cli-io.ts';
import { emit } from './output.ts';

/*
 * `vdc up` / `vdc down` / `vdc status`: the local grid for trying VDC on one machine. `up`
 * makes an identity if there is none, starts the grid's services in the background,
 * registers the user's twin and a demo farm, and says what to open.
 */

export function gridCommands(io: CliIo): Command[] {
  const up = new Command('up')
    .description(
      'bring up the local grid (in $VDC_HOME/grid) with your twin and a demo farm, and say what to open',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const home = vdcHome(io.env);
      const keystore = join(home, 'identity.json');
      let identity: Identity;
      if (existsSync(keystore)) {
        identity = await openKeystore(keystore, await readPassphrase({ env: io.env }));
      } else {
        io.err('No identity yet: making one. Choose a passphrase for its keystore.\n');
        const passphrase = await readPassphrase({ env: io.env, confirm: true });
        const mnemonic = generateMnemonic();
        identity = await createKeystore(keystore, mnemonicToSeed(mnemonic), passphrase);
        io.err(
          `\nYour mnemonic — write these 24 words down; they are shown once:\n\n  ${mnemonic}\n\n`,
        );
      }
      const status = await gridUp(home, (name) => io.err(`starting ${name}…\n`));
      const ledgerUrl = status.services['ledger']!.address;
      const client = await LedgerClient.connect({
        url: ledgerUrl,
        home,
        say: (line) => io.err(`${line}\n`),
      });
      let twin = client.twinOf(identity);
      if (twin === undefined) {
        twin = (
          await client.submit(identity, 'twin.create', {
            encryptionKey: toHex(identity.encryptionPublicKey),
            relays: [],
          })
        ).created['twins'];
      }
      let farm = client.follower.view.farmsOf(twin!)[0]?.id;
      if (farm === undefined)
        farm = (await client.submit(identity, 'farm.create', { name: 'demo' })).created['farms'];
      const summary = {
        grid: status.dir,
        twin,
        farm,
        services: Object.fromEntries(
          Object.entries(status.services).map(([k, v]) => [k, v.address]),
        ),
      };
      emit(io, opts.json, summary, () =>
        [
          `The local grid is up (${status.dir}).`,
          ...Object.entries(status.services).map(
            ([name, s]) => `  ${name.padEnd(8)} ${s.address.padEnd(26)} ${s.hint}`,
          ),
          `  you      twin ${twin}, farm ${farm} ("demo")`,
          '',
          `Open ${ledgerUrl} to see the ledger; 'bin/vdc ledger head --ledger ${ledgerUrl}' verifies it.`,
          "Stop everything with 'bin/vdc down' (add --purge to delete the grid's data).",
        ].join('\n'),
      );
    });

  const down = new Command('down')
    .description('stop the local grid started by vdc up, and nothing else')
    .option('--purge', "also delete the grid's data ($VDC_HOME/grid); your identity is kept")
    .option('--json', 'print JSON')
    .action(async (opts: { purge?: boolean; json?: boolean }) => {
      const stopped = await gridDown(vdcHome(io.env), Boolean(opts.purge));
      emit(
        io,
        opts.json,
        { stopped, purged: Boolean(opts.purge) },
        stopped.length ? `stopped ${stopped.join(', ')}` : 'nothing was running',
      );
    });

  const status = new Command('status')
    .description('show what the local grid runs')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const s = gridStatus(vdcHome(io.env));
      emit(io, opts.json, s, () => {
        const lines = Object.entries(s.services).map(
          ([name, r]) =>
            `${name.padEnd(8)} ${r.running ? 'running' : 'stopped'}  ${r.address}  (pid ${r.pid}, log ${r.log})`,
        );
        return lines.length ? lines.join('\n') : "the local grid is not up: run 'vdc up'";
      });
    });

  return [up, down, status];
}
