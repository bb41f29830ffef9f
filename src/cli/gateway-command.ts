import { Command } from 'commander';
import { fail } from '../core/assert.ts';
import { parseListen } from '../core/listen-address.ts';
import { jsonLogger } from '../core/log.ts';
import {
  ensureGatewayRegistered,
  loadOrCreateTunnelCert,
  type RunningGateway,
  startGateway,
} from '../gateway/index.ts';
import type { CliIo } from './cli-io.ts';
import { unlockIdentity } from './id-command.ts';
import { connectLedger, type LedgerFlags, positiveInt, withLedgerFlags } from './ledger-context.ts';
import { emit } from './output.ts';
import { untilStopped } from './stop-signal.ts';

/** What `vdc gateway serve` needs from outside; tests pass their own. */
export interface GatewayCommandDeps {
  signal?: AbortSignal;
  onListening?: (gateway: RunningGateway) => void;
}

const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

interface ServeFlags extends LedgerFlags {
  domain: string;
  http: string;
  https: string;
  tunnel: string;
  tunnelAddress?: string;
  key: string;
  cert?: string;
  farm?: string;
  updateRegistration?: boolean;
}

export function gatewayCommand(io: CliIo, deps: GatewayCommandDeps = {}): Command {
  const gateway = new Command('gateway').description(
    'the web gateway: NAME.DOMAIN served through tunnels backends dial out (docs/gateway.md)',
  );
  withLedgerFlags(
    gateway
      .command('serve')
      .description('run a gateway with the operator identity of $VDC_HOME; registers it if needed'),
  )
    .requiredOption('--domain <domain>', 'the domain names are served under, e.g. gw.example.org')
    .requiredOption('--http <host:port>', 'public HTTP listener (http-mode names, Host routing)')
    .requiredOption(
      '--https <host:port>',
      'public TLS listener (tls-passthrough names, SNI routing)',
    )
    .requiredOption('--tunnel <host:port>', 'tunnel listener backends dial')
    .option('--tunnel-address <host:port>', 'the tunnel address backends dial (default --tunnel)')
    .requiredOption('--key <file>', 'the tunnel TLS key (PEM); made with its certificate if absent')
    .option('--cert <file>', 'the tunnel certificate (default KEY.crt)')
    .option('--farm <id>', 'the farm to register the gateway in (default your first farm)')
    .option(
      '--update-registration',
      'the ledger has this domain with another tunnel key or address: record these (gateway.update)',
    )
    .action(async (opts: ServeFlags) => {
      const domain = opts.domain;
      if (!DOMAIN.test(domain))
        fail('USAGE', `'--domain' must be a lowercase DNS name, got ${JSON.stringify(domain)}`);
      const http = parseListen(opts.http, '--http', 'GATEWAY_LISTEN_INVALID');
      const https = parseListen(opts.https, '--https', 'GATEWAY_LISTEN_INVALID');
      const tunnel = parseListen(opts.tunnel, '--tunnel', 'GATEWAY_LISTEN_INVALID');
      const tunnelAddress = opts.tunnelAddress ?? opts.tunnel;
      if (
        /^(?:0\.0\.0\.0|\[::\]):/.test(tunnelAddress) ||
        (tunnel.port === 0 && !opts.tunnelAddress)
      )
        fail(
          'USAGE',
          `backends cannot dial ${tunnelAddress}: pass --tunnel-address with the public HOST:PORT of the tunnel listener`,
        );
      const identity = await unlockIdentity(io);
      const client = await connectLedger(io, opts);
      const cert = loadOrCreateTunnelCert(opts.key, opts.cert ?? `${opts.key}.crt`, domain);
      const reg = await ensureGatewayRegistered(client, identity, {
        domain,
        tunnelAddress,
        spkiSha256: cert.spkiSha256,
        ...(opts.farm === undefined ? {} : { farm: positiveInt(opts.farm, '--farm') }),
        update: opts.updateRegistration === true,
      });
      const logger = jsonLogger((line) => io.err(line), { program: 'gateway' });
      const running = await startGateway({
        follower: client.follower,
        gateway: reg.id,
        domain,
        http,
        https,
        tunnel,
        key: cert.key,
        cert: cert.cert,
        logger,
      });
      const view = {
        gateway: reg.id,
        registered: reg.registered,
        updated: reg.updated,
        domain,
        http: `${http.host}:${running.httpPort}`,
        https: `${https.host}:${running.httpsPort}`,
        tunnel: `${tunnel.host}:${running.tunnelPort}`,
        tunnelAddress,
        tunnelSpkiSha256: cert.spkiSha256,
        keyCreated: cert.created,
      };
      emit(io, opts.json, view, () =>
        [
          `gateway ${reg.id}${reg.registered ? ' (registered now)' : reg.updated ? ' (tunnel key and address updated now)' : ''} serving *.${domain}`,
          `http ${view.http}, tls ${view.https}, tunnels ${view.tunnel} (dialled at ${tunnelAddress})`,
          `tunnel key SPKI sha256 ${cert.spkiSha256}${cert.created ? ' (new)' : ''}`,
        ].join('\n'),
      );
      deps.onListening?.(running);
      await untilStopped(deps.signal);
      await running.close();
    });
  return gateway;
}
