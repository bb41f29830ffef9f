import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VdcError } from '../core/errors.ts';
import { parseListen } from '../core/listen-address.ts';
import { listenOn } from '../core/listen-on.ts';
import type { Logger } from '../core/log.ts';
import { ledgerRouter } from './ledger-api.ts';
import { loadOrCreateLedgerKey } from './ledger-key.ts';
import { LedgerService } from './ledger-service.ts';
import { openStore } from './open-store.ts';

/*
 * `vdc ledger serve`: the service behind its HTTP API, plus a heartbeat head every few
 * seconds so followers can tell a quiet ledger from a silent one (nodes fence on stale
 * heads).
 */

export interface LedgerServerOptions {
  /** sqlite:PATH or postgres://… */
  store: string;
  /** HOST:PORT; port 0 picks a free one */
  listen: string;
  keyFile: string;
  logger: Logger;
  heartbeatMs?: number;
  onReplay?: (done: number, total: number) => void;
  /** tests only: behave as a dishonest ledger that logs node reports its own tree contradicts */
  acceptAnyReportedHead?: boolean;
  /** called once if the ledger fails for good (a commit failed): close it and exit non-zero */
  onFatal?: (err: VdcError) => void;
}

export interface RunningLedger {
  url: string;
  service: LedgerService;
  keyCreated: boolean;
  close(): Promise<void>;
}

export async function startLedgerServer(opts: LedgerServerOptions): Promise<RunningLedger> {
  const { host, port } = parseListen(opts.listen);
  const key = loadOrCreateLedgerKey(opts.keyFile);
  const store = await openStore(opts.store);
  const service = await LedgerService.open({
    store,
    ledgerKey: key.privateKey,
    ...(opts.onReplay ? { onReplay: opts.onReplay } : {}),
    ...(opts.acceptAnyReportedHead ? { acceptAnyReportedHead: true } : {}),
    onBroken: (err) => {
      opts.logger.log('error', 'ledger stopped: a commit failed; restart it to replay its store', {
        err,
      });
      opts.onFatal?.(err);
    },
  });
  const router = ledgerRouter(service);
  const server: Server = createServer(router.listener);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await listenOn(server, { host, port }, (err) =>
    opts.logger.log('error', 'ledger listener', { err: err.message }),
  );
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const heartbeat = setInterval(() => {
    service
      .heartbeat()
      .catch((err: unknown) => opts.logger.log('error', 'heartbeat head failed', { err }));
  }, opts.heartbeatMs ?? 5000);
  heartbeat.unref();
  opts.logger.log('info', 'ledger serving', {
    url,
    ledger: service.ledger,
    size: service.head.size,
    store: store.description,
  });
  return {
    url,
    service,
    keyCreated: key.created,
    async close() {
      clearInterval(heartbeat);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
    },
  };
}
