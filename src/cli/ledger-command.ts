import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import type { VdcError } from '../core/errors.ts';
import { fromHex, toHex } from '../core/hex.ts';
import { httpJson } from '../core/http-client.ts';
import { jsonLogger } from '../core/log.ts';
import {
  auditLog,
  type Leaf,
  ledgerId,
  loadOrCreateLedgerKey,
  openStore,
  Projection,
  replayStore,
  startLedgerServer,
} from '../ledger/index.ts';
import type { CliIo } from './cli-io.ts';
import { connectLedger, type LedgerFlags, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';
import { progress } from './progress.ts';

function ledgerKeyFrom(opts: { key?: string; ledgerKey?: string }): Buffer {
  if (opts.ledgerKey) return fromHex(opts.ledgerKey, '--ledger-key', 32, 'KEY_INVALID');
  if (opts.key) {
    // Never create a key here: an audit must check against the ledger's existing key.
    if (!existsSync(opts.key))
      fail('FILE_NOT_FOUND', `${opts.key} does not exist: give the ledger's key file`);
    return loadOrCreateLedgerKey(opts.key).publicKey;
  }
  fail(
    'USAGE',
    "an audit needs the ledger's public key: pass --ledger-key HEX, or --key FILE (the ledger's key file)",
  );
}

export function ledgerCommand(io: CliIo): Command {
  const ledger = new Command('ledger').description(
    'the tamper-evident ledger: serve, inspect, audit',
  );

  ledger
    .command('serve')
    .description('run a ledger server (logs one JSON object per line on stderr)')
    .requiredOption('--store <spec>', 'sqlite:PATH or postgres://USER@HOST:PORT/DB[?schema=NAME]')
    .requiredOption('--listen <host:port>', 'address of the HTTP API')
    .requiredOption('--key <file>', "the ledger's signing key; created if absent")
    .option('--heartbeat <ms>', 'sign a fresh head this often (ms)', '5000')
    .action(async (opts: { store: string; listen: string; key: string; heartbeat: string }) => {
      const heartbeatMs = Number(opts.heartbeat);
      if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 100)
        fail('USAGE', `'--heartbeat' must be an integer of at least 100 ms, got ${opts.heartbeat}`);
      const logger = jsonLogger((line) => io.err(line), { program: 'ledger' });
      let fatal: VdcError | undefined;
      let stop = () => {};
      const stopped = new Promise<void>((resolve) => {
        stop = resolve;
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const running = await startLedgerServer({
        store: opts.store,
        listen: opts.listen,
        keyFile: opts.key,
        logger,
        heartbeatMs,
        onReplay: (done, total) => logger.log('info', 'replaying log', { done, total }),
        onFatal: (err) => {
          fatal = err;
          stop();
        },
      });
      io.out(
        `${running.keyCreated ? `created ledger key ${opts.key}\n` : ''}ledger key: ${toHex(running.service.publicKey)}\nlistening on ${running.url}\n`,
      );
      await stopped;
      logger.log('info', 'ledger stopping', {});
      await running.close();
      if (fatal) throw fatal;
    });

  withLedgerFlags(
    ledger.command('head').description('fetch, verify and print the newest signed head'),
  ).action(async (opts: LedgerFlags) => {
    const client = await connectLedger(io, opts);
    const head = client.follower.head!;
    emit(
      io,
      opts.json,
      head,
      `size ${head.size}\nroot ${head.root}\ntime ${new Date(head.time).toISOString()}\nledger ${head.ledger}\n(verified: signed by the pinned key, consistent with every head seen before)`,
    );
  });

  withLedgerFlags(
    ledger
      .command('entries')
      .description('print entries of the log, each proven against the verified head'),
  )
    .option('--from <n>', 'first entry', '0')
    .option('--limit <n>', 'entries at most', '100')
    .action(async (opts: LedgerFlags & { from: string; limit: string }) => {
      const from = Number(opts.from);
      const limit = Number(opts.limit);
      if (!Number.isSafeInteger(from) || from < 0)
        fail('USAGE', `'--from' must be a non-negative integer, got ${opts.from}`);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
        fail('USAGE', `'--limit' must be 1..1000, got ${opts.limit}`);
      const client = await connectLedger(io, opts);
      const answer = (await httpJson(
        `${client.follower.url}/v1/entries?from=${from}&limit=${limit}`,
      )) as unknown as { entries: Leaf[] };
      const entries = Array.isArray(answer?.entries)
        ? answer.entries
        : fail(
            'PEER_PROTOCOL',
            `${client.follower.url}/v1/entries did not answer {entries: [...]}`,
          );
      // Every entry proven, and none missing: seqs must run from..from+n without a gap.
      for (const [i, leaf] of entries.entries()) {
        await client.follower.proveLeaf(leaf);
        if (leaf.seq !== from + i) fail('LEDGER_REWRITTEN', `the ledger skipped entry ${from + i}`);
      }
      emit(io, opts.json, answer.entries, () =>
        answer.entries
          .map(
            (l) =>
              `${l.seq}\t${new Date(l.acceptedAt).toISOString()}\t${String(l.tx['type'])}\ttwin ${String(l.tx['twin'])}`,
          )
          .join('\n'),
      );
    });

  ledger
    .command('verify')
    .description(
      'audit a store offline: every leaf hash, signature, rule at its acceptedAt, and every head; names the first bad entry',
    )
    .requiredOption('--store <spec>', 'sqlite:PATH or postgres://…')
    .option('--key <file>', "the ledger's key file (its public key is used)")
    .option('--ledger-key <hex>', "the ledger's public key")
    .option('--json', 'print JSON')
    .action(async (opts: { store: string; key?: string; ledgerKey?: string; json?: boolean }) => {
      const key = ledgerKeyFrom(opts);
      const store = await openStore(opts.store);
      try {
        const projection = new Projection(ledgerId(key));
        const bar = progress(io, 'verifying', Boolean(opts.json));
        const report = await auditLog(store, key, {
          checkEntry: (leaf) => void projection.apply(leaf),
          onProgress: (done, total) => bar.update(done, total),
        });
        bar.done();
        if (report.ok) {
          emit(
            io,
            opts.json,
            { ...report, digest: projection.digest() },
            `ok: ${report.size} entries and ${report.heads} heads verified\nstate digest ${projection.digest()}`,
          );
          return;
        }
        const f = report.finding!;
        if (opts.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        fail(f.code, `entry ${f.seq} is bad (${f.at}): ${f.reason}`);
      } finally {
        await store.close();
      }
    });

  ledger
    .command('rebuild')
    .description(
      'rebuild the state (twins, nodes, contracts, names…) from the log and print its digest',
    )
    .requiredOption('--store <spec>', 'sqlite:PATH or postgres://…')
    .option('--key <file>', "the ledger's key file")
    .option('--ledger-key <hex>', "the ledger's public key")
    .option('--json', 'print JSON')
    .action(async (opts: { store: string; key?: string; ledgerKey?: string; json?: boolean }) => {
      const key = ledgerKeyFrom(opts);
      const store = await openStore(opts.store);
      try {
        const bar = progress(io, 'replaying', Boolean(opts.json));
        const projection = await replayStore(store, ledgerId(key), (done, total) =>
          bar.update(done, total),
        );
        bar.done();
        const snap = projection.snapshot();
        const counts = {
          twins: snap.twins.length,
          farms: snap.farms.length,
          nodes: snap.nodes.length,
          gateways: snap.gateways.length,
          contracts: snap.contracts.length,
          names: snap.names.length,
        };
        emit(
          io,
          opts.json,
          { size: projection.size, digest: projection.digest(), counts },
          `${projection.size} entries replayed\nstate digest ${projection.digest()}\n${Object.entries(
            counts,
          )
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')}`,
        );
      } finally {
        await store.close();
      }
    });

  return ledger;
}
