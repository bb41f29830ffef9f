import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { settleWithin } from '../core/settle-within.ts';
import { type RunningTunnel, startTunnel } from '../gateway/index.ts';
import type { Identity } from '../identity/index.ts';
import type { Projection } from '../ledger/index.ts';
import type { Workload } from './deployment-document.ts';
import type { RuntimeStatus, WorkloadRuntime } from './deployment-engine.ts';
import { gatewaySeemsBehind } from './gateway-lag.ts';
import { NetnsForwarder, processStart } from './netns-forwarder.ts';
import { UID_RANGE } from './oci-spec.ts';
import { openSecret, tlsKeyContext } from './secret-seal.ts';

/*
 * The `gateway` runtime (docs/node-gateway.md): a port of a container of the same
 * deployment, served under the owner's name through a tunnel the node dials out to the
 * gateway, signed with the node's key and carrying the owner's grant. The container's
 * network holds only loopback, so a forwarder (netns-forwarder.ts) entered into it listens
 * on a unix socket under `<data>/gateways/<id>/`, and the tunnel's streams go there. A
 * monitor starts the forwarder again when it dies or the container's init changes (the
 * container was started again); the tunnel itself keeps its socket path and runs on.
 *
 * A name served over TLS in http mode (docs/node-gateway.md, "The owner's certificate"):
 * the spec carries the certificate chain and the private key sealed to this node. The key
 * is opened at apply, kept in this process's memory only and handed to the tunnel client,
 * which presents it to the gateway as `vdc tunnel --tls-cert --tls-key` does. It is never
 * written, logged or shown: the stored deployment holds the sealed value only.
 */

/** What the runtime needs of the container runtime (container-runtime.ts `netns`). */
export interface ContainerNetns {
  netns(contract: number, name: string): Promise<{ pid: number; hostIdBase: number } | undefined>;
}

/** The node's own ledger facts, known once the agent has registered or resumed. */
export interface NodeLedgerLink {
  view: () => Projection;
  /** brings the view to the ledger's newest head (a gateway re-keyed a moment ago) */
  sync?: () => Promise<unknown>;
  ledger: string;
  node: number;
}

export interface GatewayRuntimeOptions {
  data: string;
  /** the node's identity: it signs the tunnel hello */
  identity: Identity;
  containers: ContainerNetns;
  logger: Logger;
  monitorMs?: number;
  /** how long apply waits for the tunnel's first open or failure */
  firstOutcomeMs?: number;
  maxBackoffMs?: number;
  nsenter?: string;
}

interface GatewaySpec {
  name: string;
  gateway: number;
  workload: string;
  port: number;
  grant: string;
  /** the certificate chain (PEM) and the private key sealed to this node */
  tls?: { cert: string; key: string };
}

/** The opened certificate: in memory only, for the tunnel client. */
interface OpenedTls {
  cert: string;
  key: string;
  /** the leaf's SHA-256 (what the name pins), for statuses and lag checks */
  sha256: string;
}

type TunnelState = 'connecting' | 'open' | 'retrying' | 'refused';

interface Entry {
  id: string;
  contract: number;
  spec: GatewaySpec;
  specHash: string;
  tls: OpenedTls | undefined;
  dir: string;
  tunnel?: RunningTunnel;
  tunnelState: TunnelState;
  tunnelNote: string;
  refusal?: Error;
  forwarder?: NetnsForwarder | undefined;
  /** the container init's start time when the forwarder entered its network */
  initStart?: string | undefined;
  /** why the forwarder is not running, '' when it is */
  forwarderNote: string;
  nextForwarderAt: number;
  forwarderBackoff: number;
  events: string[];
  /** resolves apply's wait for the tunnel's first outcome */
  settle: (outcome: Outcome) => void;
  lagRetries: number;
  retryTimer?: NodeJS.Timeout | undefined;
  stopped: boolean;
}

type Outcome = 'open' | 'retry' | 'refused';

const MONITOR_MS = 1000;
const FIRST_OUTCOME_MS = 15_000;
const MAX_EVENTS = 200;
/** tries while the gateway seems behind the node's view of the ledger: 1 + 2 + 4 + 8 s */
const LAG_RETRIES = 4;

export class GatewayRuntime implements WorkloadRuntime {
  readonly #o: GatewayRuntimeOptions;
  readonly #dir: string;
  readonly #entries = new Map<string, Entry>();
  /** per workload: the last queued change, so apply, remove and the monitor never interleave */
  readonly #locks = new Map<string, Promise<unknown>>();
  #link: NodeLedgerLink | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: GatewayRuntimeOptions) {
    this.#o = o;
    this.#dir = join(o.data, 'gateways');
    mkdirSync(this.#dir, { recursive: true, mode: 0o711 });
    // traverse-only for the forwarders' uids: each reaches its own folder, lists none
    chmodSync(this.#dir, 0o711);
    this.#timer = setInterval(() => void this.poll(), o.monitorMs ?? MONITOR_MS);
    this.#timer.unref();
  }

  /** Gives the runtime the node's ledger view, id and ledger; the agent calls it at start. */
  attachLedger(link: NodeLedgerLink): void {
    this.#link = link;
  }

  #id(contract: number, name: string): string {
    return `g${contract}-${name}`;
  }

  #serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#locks.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return run;
  }

  #event(e: Entry, line: string): void {
    e.events.push(`${new Date().toISOString()} ${line}`);
    if (e.events.length > MAX_EVENTS) e.events.splice(0, e.events.length - MAX_EVENTS);
  }

  /**
   * Starts (or keeps) the forwarder and the tunnel of a gateway workload; waits for the
   * tunnel's first outcome.
   * @throws VdcError GATEWAY_WORKLOAD_UNAVAILABLE, GATEWAY_WORKLOAD_NOT_RUNNING,
   *   GATEWAY_FORWARDER_FAILED, SECRET_SEALED_FOR_OTHER_NODE (and the other SECRET_* codes
   *   of a TLS key that does not open), or the gateway's refusal (TUNNEL_GRANT_INVALID,
   *   TUNNEL_NODE_NOT_LISTED, TUNNEL_NAME_UNKNOWN, TUNNEL_PIN_MISMATCH, TUNNEL_CERT_*, ...)
   */
  apply(contract: number, w: Workload, owner: { twin: number }): Promise<void> {
    const id = this.#id(contract, w.name);
    return this.#serial(id, async () => {
      const link = this.#link;
      if (!link)
        fail(
          'GATEWAY_WORKLOAD_UNAVAILABLE',
          `workload ${w.name}: the node has no ledger view yet to open tunnels with; try again in a moment`,
        );
      const spec = w.spec as unknown as GatewaySpec;
      const specHash = createHash('sha256').update(canonicalize(w.spec)).digest('hex');
      const current = this.#entries.get(id);
      if (current && current.specHash === specHash && current.tunnelState !== 'refused') {
        await this.#ensureForwarder(current);
        return;
      }
      // Opened before anything changes: a key that does not open (sealed to another node,
      // moved, altered) refuses the workload with its SECRET_* code and leaves all as it was.
      const tls = spec.tls ? this.#openTls(w.name, spec, owner.twin) : undefined;
      if (current) await this.#teardown(current);
      const entry: Entry = {
        id,
        contract,
        spec,
        specHash,
        tls,
        dir: join(this.#dir, id),
        tunnelState: 'connecting',
        tunnelNote: '',
        forwarderNote: '',
        nextForwarderAt: 0,
        forwarderBackoff: 0,
        events: [],
        settle: () => {},
        lagRetries: 0,
        stopped: false,
      };
      this.#entries.set(id, entry);
      try {
        await this.#ensureForwarder(entry);
        await this.#openTunnel(entry, link);
      } catch (err) {
        // a workload that could not start leaves nothing behind; the engine records why
        await this.#teardown(entry);
        throw asVdcError(err);
      }
    });
  }

  /** Opens the sealed TLS key with the node's key, in memory. @throws VdcError SECRET_* */
  #openTls(workload: string, spec: GatewaySpec, twin: number): OpenedTls {
    const { cert, key: sealed } = spec.tls!;
    const opened = openSecret(sealed, this.#o.identity, tlsKeyContext(twin, workload, spec.name));
    const key = opened.toString('utf8');
    opened.fill(0);
    // The leaf is the first PEM block; the node's checks (6d) made sure it parses.
    const leaf = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(cert)?.[0] ?? '';
    const sha256 = createHash('sha256').update(new X509Certificate(leaf).raw).digest('hex');
    return { cert, key, sha256 };
  }

  /** Enters the forwarder into the container's network, unless it already runs there. */
  async #ensureForwarder(e: Entry): Promise<void> {
    const net = await this.#o.containers.netns(e.contract, e.spec.workload);
    if (!net) {
      e.forwarderNote = `container ${e.spec.workload} is not running`;
      fail(
        'GATEWAY_WORKLOAD_NOT_RUNNING',
        `gateway workload ${e.id}: container ${e.spec.workload} is not running, so nothing answers on its port ${e.spec.port}; look at it with node.diagnostics`,
      );
    }
    const start = processStart(net.pid);
    const f = e.forwarder;
    if (f?.running && f.target.pid === net.pid && e.initStart === start) return;
    await f?.stop();
    e.forwarder = undefined;
    // The forwarder runs as the last uid of the container's own range: it can do nothing the
    // container could not, and no other uid on the host shares it.
    const uid = net.hostIdBase + UID_RANGE - 1;
    mkdirSync(e.dir, { recursive: true, mode: 0o700 });
    chownSync(e.dir, uid, uid);
    chmodSync(e.dir, 0o700);
    try {
      e.forwarder = await NetnsForwarder.start(
        { pid: net.pid, uid, gid: uid, port: e.spec.port },
        { socket: join(e.dir, 'socket'), ...(this.#o.nsenter ? { nsenter: this.#o.nsenter } : {}) },
      );
    } catch (err) {
      e.forwarderNote = asVdcError(err).message;
      throw err;
    }
    e.initStart = start;
    e.forwarderNote = '';
    e.forwarderBackoff = 0;
    this.#event(e, `forwarder ${e.forwarder.pid} started in the network of process ${net.pid}`);
    this.#o.logger.log('info', 'gateway forwarder started', {
      workload: e.id,
      forwarder: e.forwarder.pid,
      container: net.pid,
    });
  }

  /** Starts the tunnel; resolves on its first open or transient failure, throws a refusal. */
  async #openTunnel(e: Entry, link: NodeLedgerLink): Promise<void> {
    const first = new Promise<Outcome>((resolve) => {
      e.settle = resolve;
    });
    this.#startTunnel(e, link);
    const outcome = await settleWithin(first, this.#o.firstOutcomeMs ?? FIRST_OUTCOME_MS);
    if (outcome === 'refused') throw e.refusal!;
  }

  #startTunnel(e: Entry, link: NodeLedgerLink): void {
    const tunnel = startTunnel({
      view: link.view,
      ...(link.sync ? { sync: link.sync } : {}),
      ledger: link.ledger,
      identity: this.#o.identity,
      name: e.spec.name,
      gateway: e.spec.gateway,
      node: link.node,
      grant: e.spec.grant,
      ...(e.tls ? { tls: { cert: e.tls.cert, key: e.tls.key } } : {}),
      to: { path: join(e.dir, 'socket') },
      ...(this.#o.maxBackoffMs ? { maxBackoffMs: this.#o.maxBackoffMs } : {}),
      onEvent: (event, fields) => {
        if (event === 'open') {
          e.tunnelState = 'open';
          e.tunnelNote = '';
          e.lagRetries = 0;
          e.settle('open');
        } else if (event === 'closed') {
          e.tunnelState = 'connecting';
          e.tunnelNote = 'the tunnel closed; reconnecting';
        } else {
          e.tunnelState = 'retrying';
          e.tunnelNote = `${String(fields['code'])}: ${String(fields['err'])}; next try in ${Math.round(Number(fields['inMs']) / 1000)} s`;
          e.settle('retry');
        }
        this.#event(e, `tunnel ${event}${e.tunnelNote ? `: ${e.tunnelNote}` : ''}`);
        this.#o.logger.log(event === 'open' ? 'info' : 'warn', `gateway tunnel ${event}`, {
          workload: e.id,
          name: e.spec.name,
          gateway: e.spec.gateway,
          ...(fields['code'] ? { code: fields['code'] } : {}),
        });
      },
    });
    e.tunnel = tunnel;
    tunnel.done.then(
      () => {},
      (err: unknown) => {
        if (e.tunnel !== tunnel || e.stopped) return;
        const refusal = asVdcError(err);
        if (this.#lagging(e, link, refusal.code) && e.lagRetries < LAG_RETRIES) {
          // The gateway follows the ledger a moment behind the node: a name registered or
          // updated just now may be news to it. Try again a few times before believing it.
          const inMs = 1000 * 2 ** e.lagRetries++;
          e.tunnelState = 'retrying';
          e.tunnelNote = `gateway ${e.spec.gateway} answered ${refusal.code}, but this node's view of the ledger says otherwise (the gateway may be behind); next try in ${inMs / 1000} s`;
          this.#event(e, `tunnel refused: ${e.tunnelNote}`);
          e.retryTimer = setTimeout(() => {
            if (this.#entries.get(e.id) === e && !e.stopped) this.#startTunnel(e, link);
          }, inMs);
          return;
        }
        e.tunnelState = 'refused';
        e.tunnelNote = `${refusal.code}: ${refusal.message}`;
        e.refusal = refusal;
        this.#event(e, `tunnel refused: ${e.tunnelNote}`);
        this.#o.logger.log('error', 'gateway tunnel refused; not retrying', {
          workload: e.id,
          name: e.spec.name,
          code: refusal.code,
        });
        e.settle('refused');
      },
    );
  }

  /** Whether the node's own view contradicts the gateway's refusal (gateway-lag.ts). */
  #lagging(e: Entry, link: NodeLedgerLink, code: string): boolean {
    let record: ReturnType<Projection['name']>;
    try {
      record = link.view().name(e.spec.name);
    } catch {
      return false; // a view that caught its ledger lying contradicts nothing
    }
    const certSha256 = e.tls?.sha256;
    return gatewaySeemsBehind({
      record,
      gateway: e.spec.gateway,
      node: link.node,
      certSha256,
      code,
    });
  }

  async #teardown(e: Entry): Promise<void> {
    if (this.#entries.get(e.id) === e) this.#entries.delete(e.id);
    e.stopped = true;
    clearTimeout(e.retryTimer);
    e.tunnel?.stop();
    await e.tunnel?.done.catch(() => {});
    await e.forwarder?.stop();
    rmSync(e.dir, { recursive: true, force: true });
  }

  remove(contract: number, name: string): Promise<void> {
    const id = this.#id(contract, name);
    return this.#serial(id, async () => {
      const e = this.#entries.get(id);
      if (e) await this.#teardown(e);
      else rmSync(join(this.#dir, id), { recursive: true, force: true });
      this.#o.logger.log('info', 'gateway workload removed', { workload: id });
    });
  }

  /** A fence: the tunnel and the forwarder stop; the next apply opens them again. */
  stop(contract: number, name: string): Promise<void> {
    return this.remove(contract, name);
  }

  status(contract: number, name: string): RuntimeStatus | undefined {
    const e = this.#entries.get(this.#id(contract, name));
    if (!e) return undefined;
    const where = `${e.spec.name} through gateway ${e.spec.gateway} to ${e.spec.workload}:${e.spec.port}${e.tls ? ` over TLS with certificate ${e.tls.sha256.slice(0, 16)}…` : ''}`;
    if (e.tunnelState === 'refused')
      return {
        state: 'failed',
        message: `gateway ${e.spec.gateway} refused the tunnel for ${e.spec.name}, not retrying: ${e.tunnelNote}`,
      };
    if (e.forwarderNote)
      return { state: 'failed', message: `serving ${where}, but no forwarder: ${e.forwarderNote}` };
    if (e.tunnelState === 'open') return { state: 'ok', message: `serving ${where}` };
    if (e.tunnelState === 'retrying')
      return { state: 'failed', message: `tunnel down, retrying: ${e.tunnelNote}` };
    return {
      state: 'failed',
      message: `connecting: ${e.tunnelNote || `to gateway ${e.spec.gateway}`}`,
    };
  }

  logs(contract: number, name: string, maxBytes: number): string {
    const e = this.#entries.get(this.#id(contract, name));
    const text = e ? `${e.events.join('\n')}\n` : '';
    return text.length > maxBytes ? text.slice(-maxBytes) : text;
  }

  /**
   * One monitor pass: a forwarder that died, or whose container was started again (its
   * init changed), is started again, with backoff while that fails.
   */
  async poll(): Promise<void> {
    const now = Date.now();
    for (const e of [...this.#entries.values()]) {
      if (e.tunnelState === 'refused' || now < e.nextForwarderAt) continue;
      const f = e.forwarder;
      if (f?.running && processStart(f.target.pid) === e.initStart) continue;
      await this.#serial(e.id, async () => {
        if (this.#entries.get(e.id) !== e) return; // removed meanwhile
        try {
          await this.#ensureForwarder(e);
        } catch (err) {
          e.forwarderBackoff = Math.min(Math.max(1000, e.forwarderBackoff * 2), 30_000);
          e.nextForwarderAt = Date.now() + e.forwarderBackoff;
          this.#event(e, `forwarder not started: ${asVdcError(err).message}`);
        }
      }).catch(() => {});
    }
  }

  /** The tunnels and forwarders live in the agent's process: they stop with it. */
  close(): void {
    clearInterval(this.#timer);
    for (const e of this.#entries.values()) {
      e.stopped = true;
      clearTimeout(e.retryTimer);
      e.tunnel?.stop();
      e.forwarder?.kill();
      rmSync(e.dir, { recursive: true, force: true });
    }
    this.#entries.clear();
  }
}
