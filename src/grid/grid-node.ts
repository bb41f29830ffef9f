import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import type { GridTwin } from './grid-twin.ts';
import type { NetnsProcess } from './netns-process.ts';
import type { NetnsHost, NetnsRun } from './netns-run.ts';

/*
 * One node of the namespace grid: `vdc node serve` in its own namespace, with its data
 * folder kept across restarts. start() waits until the node is on the ledger (its key
 * registered, read from the farmer's own verified view) and answers node.stats through
 * the relay, so a test never races a node that is still coming up.
 */

export const VDC_BIN = new URL('../../bin/vdc', import.meta.url).pathname;

export interface GridNodeSetup {
  run: NetnsRun;
  host: NetnsHost;
  /** 1-based */
  index: number;
  dataDir: string;
  log: string;
  /** the node's public signing key (hex), made before its first start */
  key: string;
  /** `vdc node serve` arguments; `first` is whether the grant should be passed */
  args: (first: boolean) => string[];
  env: Record<string, string>;
  /** the farmer, whose verified view tells when the node registered */
  farmer: GridTwin;
  /** the twin that checks the node answers through the relay */
  prober: GridTwin;
  readyTimeoutMs: number;
}

export class GridNode {
  readonly index: number;
  readonly label: string;
  readonly namespace: string;
  /** its underlay address on the grid's bridge */
  readonly address: string;
  readonly dataDir: string;
  readonly log: string;
  readonly key: string;
  #id: number | undefined;
  #twin: number | undefined;
  #process: NetnsProcess | undefined;
  #starts = 0;
  readonly #setup: GridNodeSetup;

  constructor(setup: GridNodeSetup) {
    this.#setup = setup;
    this.index = setup.index;
    this.label = setup.host.label;
    this.namespace = setup.host.namespace;
    this.address = setup.host.address;
    this.dataDir = setup.dataDir;
    this.log = setup.log;
    this.key = setup.key;
  }

  /** Its node id on the ledger (known once it has started). */
  get id(): number {
    if (this.#id === undefined) fail('GRID_START_FAILED', `${this.label} has not registered yet`);
    return this.#id;
  }

  /** The twin its API answers as through the relay. */
  get twin(): number {
    if (this.#twin === undefined) fail('GRID_START_FAILED', `${this.label} has not registered yet`);
    return this.#twin;
  }

  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  get running(): boolean {
    return this.#process?.running === true;
  }

  get process(): NetnsProcess | undefined {
    return this.#process;
  }

  /**
   * Starts the agent (again, on the same data: a restart resumes) and waits until it is
   * registered and answers node.stats through the relay.
   * @throws VdcError GRID_START_FAILED with the tail of its log
   */
  async start(): Promise<void> {
    if (this.running) return;
    const s = this.#setup;
    const first = this.#starts++ === 0;
    const proc = s.run.spawn(s.host, this.label, VDC_BIN, s.args(first), {
      log: s.log,
      env: s.env,
      cwd: this.dataDir,
    });
    this.#process = proc;
    const deadline = Date.now() + s.readyTimeoutMs;
    const gone = (why: string): never =>
      fail(
        'GRID_START_FAILED',
        `${this.label} (${this.namespace}) ${why}; the tail of ${s.log}:\n${proc.tail(20)}`,
      );
    const check = () => {
      if (!proc.running) gone(`exited with ${proc.exitCode}`);
      if (Date.now() > deadline)
        gone(`was not ready within ${Math.round(s.readyTimeoutMs / 1000)} s`);
    };
    for (;;) {
      check();
      const view = s.farmer.client.follower;
      await view.sync().catch(() => {}); // the ledger may be busy: the deadline decides
      const node = view.view.nodeByKey(this.key);
      if (node) {
        this.#id = node.id;
        this.#twin = node.twin;
        break;
      }
      await sleep(100);
    }
    for (;;) {
      check();
      try {
        await this.request(s.prober, 'node.stats', undefined, 2000);
        return;
      } catch {
        // Not logged in at the relay yet, or the prober's directory lags: try again.
      }
      await sleep(100);
    }
  }

  /** SIGTERM (SIGKILL after `graceMs`); the data folder stays for start(). */
  async stop(graceMs?: number): Promise<void> {
    await this.#process?.stop(graceMs);
  }

  /** SIGKILL, as a crash would; the data folder stays for start(). */
  async kill(): Promise<void> {
    await this.#process?.kill();
  }

  /** A request to this node's API from `twin`, through the relay. */
  request(
    twin: GridTwin,
    method: string,
    params?: Record<string, JsonValue>,
    timeoutMs = 10_000,
  ): Promise<JsonValue> {
    return twin.relay.request(this.twin, params === undefined ? { method } : { method, params }, {
      timeoutMs,
    });
  }

  tail(lines = 30): string {
    return this.#process?.tail(lines) ?? '(not started)';
  }
}
