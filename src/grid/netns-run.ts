import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { fail } from '../core/assert.ts';
import {
  addBridge,
  addNamespace,
  addVeth,
  listLinks,
  listNamespaces,
  MAX_LINK_NAME,
  spawnInNamespace,
} from './netns.ts';
import { closeLog, NetnsProcess, openLog } from './netns-process.ts';
import {
  isAlive,
  processIdentity,
  RECORD_VERSION,
  type RunRecord,
  readRecord,
  recordPath,
  writeRecord,
} from './run-record.ts';
import { destroyRun, destroyRunSync, sweepStaleRuns } from './run-teardown.ts';
import { hostInSubnet, pickSubnet } from './subnet.ts';

/*
 * One run of the harness: a bridge in the host namespace with the host's address (.1) on
 * the run's own /24, and hosts — each a network namespace plugged into the bridge by a veth
 * pair, with the next address of the /24 on its `eth0`. Hosts have no default route: they
 * reach each other and the host namespace, nothing else. Every object is written into the
 * run record before it is made (run-record.ts), so teardown — explicit, from the process
 * 'exit' hook, or by the next run's sweep after a crash — removes all of it and nothing else.
 */

/** What a host's label may be: it becomes part of the namespace name. */
const LABEL = /^[a-z][a-z0-9-]{0,19}$/;
/** .1 is the host namespace; hosts take .2 upwards. */
const FIRST_HOST = 2;
const LAST_HOST = 254;

export interface NetnsHost {
  /** the label it was made with, e.g. `core`, `node1` */
  label: string;
  /** the network namespace: `<prefix>-<label>` */
  namespace: string;
  /** its IPv4 address on the bridge (on `eth0` inside) */
  address: string;
  /** the host end of its veth pair, on the bridge */
  link: string;
}

const liveRuns = new Set<NetnsRun>();

function requireRoot(): void {
  if (process.getuid?.() !== 0)
    fail('GRID_NOT_ROOT', 'the namespace grid needs root (network namespaces, bridges, veths)');
}
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a test process that ends without tearing down: nothing asynchronous
  // runs here, so SIGKILL and remove synchronously. A SIGKILLed process gets no hook: the
  // next run's sweep handles it.
  process.once('exit', () => {
    for (const run of liveRuns) {
      try {
        run.teardownSync();
      } catch {
        // The record stays; the next run's sweep retries.
      }
    }
  });
}

export class NetnsRun {
  readonly id: string;
  readonly prefix: string;
  readonly bridge: string;
  /** `10.a.b.0/24` */
  readonly subnet: string;
  /** the host namespace's address on the bridge, `10.a.b.1` */
  readonly hostAddress: string;
  readonly #record: RunRecord;
  readonly #hosts: NetnsHost[] = [];
  readonly #processes: NetnsProcess[] = [];
  #closed = false;

  private constructor(record: RunRecord, subnet: string, hosts: readonly NetnsHost[] = []) {
    this.#record = record;
    this.id = record.run;
    this.prefix = record.prefix;
    this.bridge = `${record.prefix}br`;
    this.subnet = subnet;
    this.hostAddress = hostInSubnet(subnet, 1);
    this.#hosts.push(...hosts);
  }

  /**
   * Sweeps stale runs, then makes a new run with its bridge. With `keep`, the run has no
   * owner: it outlives this process and ends only with teardown()/teardownRun().
   * `subnet` is tried first when free (see pickSubnet).
   * @throws VdcError GRID_NOT_ROOT, GRID_NO_FREE_SUBNET, GRID_NETNS_COMMAND_FAILED
   */
  static create(opts: { keep?: boolean; subnet?: string } = {}): NetnsRun {
    requireRoot();
    sweepStaleRuns();
    const owner = opts.keep ? null : processIdentity(process.pid)!;
    const record: RunRecord = {
      version: RECORD_VERSION,
      run: NetnsRun.#freshId(),
      prefix: '',
      owner,
      createdAt: new Date().toISOString(),
      subnet: null,
      links: [],
      namespaces: [],
      processes: [],
      containerRoots: [],
    };
    record.prefix = `vdcg${record.run}`;
    writeRecord(record);
    let subnet: string;
    try {
      subnet = pickSubnet(record, opts.subnet);
    } catch (err) {
      destroyRunSync(record);
      throw err;
    }
    const run = new NetnsRun(record, subnet);
    // A kept run outlives this process on purpose: the exit hook must not end it.
    if (!opts.keep) {
      liveRuns.add(run);
      installExitHook();
    }
    try {
      run.#make('link', run.bridge, () => addBridge(run.bridge, `${run.hostAddress}/24`));
    } catch (err) {
      run.teardownSync();
      throw err;
    }
    return run;
  }

  /** A run id no record, namespace or link on this machine uses yet. */
  static #freshId(): string {
    const links = listLinks();
    const namespaces = listNamespaces();
    for (;;) {
      const id = randomBytes(3).toString('hex');
      const prefix = `vdcg${id}`;
      if (links.some((l) => l.startsWith(prefix))) continue;
      if (namespaces.some((n) => n.startsWith(prefix))) continue;
      try {
        // Claims the id: of two processes drawing the same one, exactly one creates the file.
        closeSync(openSync(recordPath(id), 'wx', 0o600));
      } catch {
        continue;
      }
      return id;
    }
  }

  /**
   * Takes up a kept run made by an earlier process (the local grid of `vdc up`): its
   * record, and its hosts as that process described them (labels, addresses and links in
   * the order they were added). New hosts and processes are recorded as before.
   * @throws VdcError GRID_NOT_ROOT, GRID_RUN_NOT_FOUND when the record is gone or invalid,
   *   or a host's namespace no longer exists (a reboot clears /run)
   */
  static resume(run: string, hosts: readonly NetnsHost[]): NetnsRun {
    requireRoot();
    const record = readRecord(run);
    if (!record || record.subnet === null)
      fail('GRID_RUN_NOT_FOUND', `no valid record of grid run ${run} (was the machine restarted?)`);
    const present = new Set(listNamespaces());
    const links = new Set(listLinks());
    const missing = [
      ...hosts.filter((h) => !present.has(h.namespace)).map((h) => h.namespace),
      ...[`${record.prefix}br`, ...hosts.map((h) => h.link)].filter((l) => !links.has(l)),
    ];
    if (missing.length > 0)
      fail('GRID_RUN_NOT_FOUND', `grid run ${run} lost ${missing.join(', ')}`);
    for (const h of hosts)
      if (!record.namespaces.includes(h.namespace) || !record.links.includes(h.link))
        fail('GRID_RUN_NOT_FOUND', `grid run ${run} has no host ${h.namespace} in its record`);
    return new NetnsRun(record, record.subnet, hosts);
  }

  /**
   * Makes this run outlive its process: no owner in the record (so no sweep takes it) and
   * no exit hook. It ends only with teardown()/teardownRun().
   */
  keep(): void {
    if (this.#closed) fail('GRID_TORN_DOWN', `grid run ${this.id} was torn down: start a new one`);
    this.#record.owner = null;
    writeRecord(this.#record);
    liveRuns.delete(this);
  }

  get hosts(): readonly NetnsHost[] {
    return this.#hosts;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Records `name` (write-ahead), makes it, and drops it from the record if making failed. */
  #make(kind: 'link' | 'namespace', name: string, make: () => void): void {
    if (this.#closed) fail('GRID_TORN_DOWN', `grid run ${this.id} was torn down: start a new one`);
    const list = kind === 'link' ? this.#record.links : this.#record.namespaces;
    list.push(name);
    writeRecord(this.#record);
    try {
      make();
    } catch (err) {
      // The prefix is this run's alone (#freshId), so an object by that name that exists
      // now was made by this attempt (half-made: added, then not configured) and stays
      // listed for teardown; one that does not exist is dropped.
      const exists = (kind === 'link' ? listLinks() : listNamespaces()).includes(name);
      if (!exists) {
        list.splice(list.indexOf(name), 1);
        writeRecord(this.#record);
      }
      throw err;
    }
  }

  /**
   * Adds a host: namespace `<prefix>-<label>`, a veth pair into the bridge, the next
   * address of the subnet.
   * @throws VdcError GRID_NAME_INVALID, GRID_NO_FREE_SUBNET (the /24 is full), GRID_NETNS_COMMAND_FAILED
   */
  addHost(label: string): NetnsHost {
    if (!LABEL.test(label))
      fail('GRID_NAME_INVALID', `host label must match ${LABEL}, got ${JSON.stringify(label)}`);
    if (this.#hosts.some((h) => h.label === label))
      fail('GRID_NAME_INVALID', `this grid already has a host named ${JSON.stringify(label)}`);
    const index = this.#hosts.length + FIRST_HOST;
    if (index > LAST_HOST)
      fail('GRID_NO_FREE_SUBNET', `a grid holds at most ${LAST_HOST - FIRST_HOST + 1} hosts`);
    const host: NetnsHost = {
      label,
      namespace: `${this.prefix}-${label}`,
      address: hostInSubnet(this.subnet, index),
      link: `${this.prefix}h${index}`,
    };
    if (host.link.length > MAX_LINK_NAME) throw new Error(`link name ${host.link} too long`);
    this.#make('namespace', host.namespace, () => addNamespace(host.namespace));
    this.#make('link', host.link, () =>
      addVeth(host.link, this.bridge, host.namespace, 'eth0', `${host.address}/24`),
    );
    this.#hosts.push(host);
    return host;
  }

  /**
   * Starts `command args` inside `host`'s namespace, stdout and stderr appended to `log`,
   * recorded so teardown stops it.
   * @throws VdcError GRID_START_FAILED when it cannot be started at all
   */
  spawn(
    host: NetnsHost,
    name: string,
    command: string,
    args: readonly string[],
    opts: { log: string; env: Record<string, string>; cwd?: string },
  ): NetnsProcess {
    if (this.#closed) fail('GRID_TORN_DOWN', `grid run ${this.id} was torn down: start a new one`);
    const fd = openLog(opts.log);
    let child: ReturnType<typeof spawnInNamespace>;
    try {
      child = spawnInNamespace(host.namespace, command, args, {
        env: opts.env,
        stdio: ['ignore', fd, fd],
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      });
    } finally {
      closeLog(fd); // the child holds its own copy
    }
    const identity = child.pid === undefined ? undefined : processIdentity(child.pid);
    if (!identity) {
      child.kill('SIGKILL');
      fail('GRID_START_FAILED', `${name} did not start in ${host.namespace} (see ${opts.log})`);
    }
    const proc = new NetnsProcess(name, host.namespace, opts.log, child);
    this.#processes.push(proc);
    this.#record.processes = [
      ...this.#record.processes.filter(isAlive),
      { ...identity, name, namespace: host.namespace },
    ];
    writeRecord(this.#record);
    return proc;
  }

  /**
   * Records a crun state root (before anything can create containers under it), so
   * teardown also kills the containers found there: they outlive the process that made them.
   */
  addContainerRoot(path: string): void {
    if (this.#closed) fail('GRID_TORN_DOWN', `grid run ${this.id} was torn down: start a new one`);
    if (!path.startsWith('/'))
      fail('GRID_NAME_INVALID', `a container root must be an absolute path, got ${path}`);
    if (this.#record.containerRoots.includes(path)) return; // a resumed run has it already
    this.#record.containerRoots.push(path);
    writeRecord(this.#record);
  }

  get processes(): readonly NetnsProcess[] {
    return this.#processes;
  }

  /**
   * Stops every process (SIGTERM, SIGKILL after `graceMs`), removes the namespaces, the
   * links and the record. Safe to call twice.
   * @throws VdcError GRID_TEARDOWN_INCOMPLETE
   */
  async teardown(graceMs = 3000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await destroyRun(this.#record, graceMs);
      // Our own children: wait for Node to reap them, so none outlives the call as a zombie.
      await Promise.all(this.#processes.map((p) => p.exited));
    } finally {
      liveRuns.delete(this);
    }
  }

  /** teardown() without waiting: SIGKILL and remove. */
  teardownSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    liveRuns.delete(this);
    destroyRunSync(this.#record);
  }
}
