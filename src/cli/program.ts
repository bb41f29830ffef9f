import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { CliIo } from './cli-io.ts';
import { deployCommand } from './deploy-command.ts';
import { deploymentCommand } from './deployment-command.ts';
import { farmCommand } from './farm-command.ts';
import { gatewayCommand } from './gateway-command.ts';
import { gridCommands } from './grid-command.ts';
import { idCommand } from './id-command.ts';
import { ledgerCommand } from './ledger-command.ts';
import { nameCommand } from './name-command.ts';
import { nodeCommand } from './node-command.ts';
import { relayCommand } from './relay-command.ts';
import { s3Command } from './s3-command.ts';
import { storeCommand } from './store-command.ts';
import { tunnelCommand } from './tunnel-command.ts';
import { twinCommand } from './twin-command.ts';
import { zdbCommand } from './zdb-command.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** The `vdc` command tree. Each program contributes its subcommands; none holds logic here. */
export function createProgram(io: CliIo): Command {
  const program = new Command('vdc')
    .description('VDC: a virtual data center that the people who host it cannot open')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  for (const cmd of gridCommands(io)) program.addCommand(cmd);
  program.addCommand(idCommand(io));
  program.addCommand(ledgerCommand(io));
  program.addCommand(twinCommand(io));
  program.addCommand(farmCommand(io));
  program.addCommand(nameCommand(io));
  program.addCommand(relayCommand(io));
  program.addCommand(gatewayCommand(io));
  program.addCommand(tunnelCommand(io));
  program.addCommand(nodeCommand(io));
  program.addCommand(deployCommand(io));
  program.addCommand(deploymentCommand(io));
  program.addCommand(storeCommand(io));
  program.addCommand(s3Command(io));
  program.addCommand(zdbCommand(io));
  // Every command parses strictly and reports usage errors through runCli, with exit code 2.
  const strict = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
    cmd.commands.forEach(strict);
  };
  strict(program);
  return program;
}
