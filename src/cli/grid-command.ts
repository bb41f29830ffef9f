import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { vdcHome } from '../core/vdc-home.ts';
import {
  checkGridFolder,
  DEFAULT_NODES,
  type GridStatus,
  gridDir,
  gridDown,
  gridStatus,
  gridUp,
  MAX_NODES,
} from '../grid/index.ts';
import {
  createKeystore,
  generateMnemonic,
  type Identity,
  mnemonicToSeed,
  openKeystore,
  readPassphrase,
} from '../identity/index.ts';
import type { CliIo } from './cli-io.ts';
import { emit } from './output.ts';

/*
 * `vdc up` / `vdc down` / `vdc status`: the local grid for trying VDC on one machine
 * (docs/grid.md). `up` makes an identity if there is none and brings the grid up (as root:
 * nodes in namespaces, a gateway and the demo VDC), with progress on stderr, and says what
 * to open. All the work is src/grid's; this file only wires and prints.
 */

function nodeCount(value: string): number {
  const n = /^[0-9]{1,2}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= MAX_NODES))
    fail('USAGE', `'--nodes' must be 1..${MAX_NODES}, got ${JSON.stringify(value)}`);
  return n;
}

function serviceLines(s: GridStatus): string[] {
  return Object.entries(s.services).map(
    ([name, r]) =>
      `  ${name.padEnd(8)} ${(r.running ? r.address : `${r.address} (stopped)`).padEnd(28)} ${r.hint}`,
  );
}

export function gridCommands(io: CliIo): Command[] {
  const up = new Command('up')
    .description(
      'bring up the local grid (in $VDC_HOME/grid): as root with nodes, a gateway and a demo VDC; say what to open',
    )
    .option('--nodes <n>', `nodes of the grid, as root (1..${MAX_NODES})`, String(DEFAULT_NODES))
    .option('--json', 'print JSON')
    .action(async (opts: { nodes: string; json?: boolean }) => {
      const nodes = nodeCount(opts.nodes);
      const home = vdcHome(io.env);
      const root = process.getuid?.() === 0;
      checkGridFolder(gridDir(home)); // as root, before anything is made or read there
      const keystore = join(home, 'identity.json');
      let identity: Identity;
      let passphrase: string;
      if (existsSync(keystore)) {
        passphrase = await readPassphrase({ env: io.env });
        identity = await openKeystore(keystore, passphrase);
      } else {
        io.err('No identity yet: making one. Choose a passphrase for its keystore.\n');
        passphrase = await readPassphrase({ env: io.env, confirm: true });
        const mnemonic = generateMnemonic();
        identity = await createKeystore(keystore, mnemonicToSeed(mnemonic), passphrase);
        io.err(
          `\nYour mnemonic — write these 24 words down; they are shown once:\n\n  ${mnemonic}\n\n`,
        );
      }
      const { status, twin, farm, farmer } = await gridUp(home, {
        identity,
        passphrase,
        nodes,
        root,
        say: (line) => io.err(`${line}\n`),
      });
      const ledger = status.services['ledger']!.address;
      const summary = {
        grid: status.dir,
        root: status.root,
        twin,
        farm,
        ...(farmer === undefined ? {} : { farmer }),
        services: Object.fromEntries(
          Object.entries(status.services).map(([k, v]) => [k, v.address]),
        ),
        ...(status.demo ? { demo: status.demo } : {}),
      };
      emit(io, opts.json, summary, () =>
        [
          `The local grid is up (${status.dir}).`,
          ...serviceLines(status),
          farmer === undefined
            ? `  you      twin ${twin}, farm ${farm} ("demo")`
            : `  you      twin ${twin}; the grid's farmer is twin ${farmer}, with farm ${farm} ("demo"): the nodes and the gateway`,
          '',
          ...(status.demo
            ? [
                `Open ${status.demo.url} — the demo VDC: contract ${status.demo.contract} on node ${status.demo.node}, served through the gateway.`,
                `'bin/vdc deployment get --contract ${status.demo.contract}' shows it as its node holds it.`,
              ]
            : [
                `Open ${ledger} to see the ledger; 'bin/vdc ledger head --ledger ${ledger}' verifies it.`,
              ]),
          "Stop everything with 'bin/vdc down' (add --purge to delete the grid's data).",
        ].join('\n'),
      );
    });

  const down = new Command('down')
    .description(
      'stop and remove what vdc up made (processes, namespaces, containers), and nothing else',
    )
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
    .description('show what the local grid runs, and the demo VDC')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const s = gridStatus(vdcHome(io.env));
      emit(io, opts.json, s, () => {
        const lines = Object.entries(s.services).map(
          ([name, r]) =>
            `${name.padEnd(8)} ${r.running ? 'running' : 'stopped'}  ${r.address}${r.namespace ? ` in ${r.namespace}` : ''}  (pid ${r.pid}, log ${r.log})`,
        );
        if (s.demo)
          lines.push(
            `demo     ${s.demo.url}  (contract ${s.demo.contract} on node ${s.demo.node})`,
          );
        return lines.length ? lines.join('\n') : "the local grid is not up: run 'vdc up'";
      });
    });

  return [up, down, status];
}
