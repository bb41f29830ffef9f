import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fail } from '../core/assert.ts';
import { type CgroupLayout, crunArgv } from './cgroup-layout.ts';

/*
 * crun, driven through its CLI: create, start, state, kill, delete. Its state lives under
 * the node's own `--root`, so two agents on one machine (the test grid) never see each
 * other's containers. `create` hands the container the workload's log file as stdout and
 * stderr; the container outlives the agent (its init is not our child), which is what lets
 * workloads run on through an agent restart.
 */

export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'absent';

export interface CrunOptions {
  root: string;
  layout: CgroupLayout;
  /** the crun binary; `crun` on PATH by default */
  binary?: string;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const TIMEOUT_MS = 30_000;

export class Crun {
  readonly #o: CrunOptions;

  constructor(o: CrunOptions) {
    this.#o = o;
  }

  /** `readOnly`: a command that only reads crun's state files needs no cgroup workaround. */
  #run(args: string[], stdio?: { out: string }, readOnly = false): Promise<Result> {
    const crun = this.#o.binary ?? 'crun';
    const full = ['--root', this.#o.root, ...args];
    const argv = readOnly ? [crun, ...full] : crunArgv(this.#o.layout, crun, full);
    const fd = stdio ? openSync(stdio.out, 'a', 0o600) : undefined;
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
        timeout: TIMEOUT_MS,
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.once('error', (err) => {
        if (fd !== undefined) closeSync(fd);
        reject(err);
      });
      child.once('close', (code, signal) => {
        if (fd !== undefined) closeSync(fd);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  /** Creates the container from the bundle; its stdout and stderr go to `log`. */
  async create(id: string, bundle: string, log: string): Promise<void> {
    const r = await this.#run(['create', '--bundle', bundle, id], { out: log });
    if (r.code !== 0)
      fail('CONTAINER_START_FAILED', `crun create ${id} failed (exit ${r.code}); see its log`);
  }

  async start(id: string): Promise<void> {
    const r = await this.#run(['start', id]);
    if (r.code !== 0)
      fail('CONTAINER_START_FAILED', `crun start ${id} failed: ${r.stderr.trim().slice(-500)}`);
  }

  /** The container's status and its init's pid; `absent` when crun does not know it. */
  async state(id: string): Promise<{ status: ContainerStatus; pid: number }> {
    const r = await this.#run(['state', id], undefined, true);
    if (r.code !== 0) return { status: 'absent', pid: 0 };
    const s = JSON.parse(r.stdout) as { status: ContainerStatus; pid: number };
    return { status: s.status, pid: s.pid };
  }

  /** Stops the container (SIGKILL to every process in it) and forgets it. Absent is fine. */
  async destroy(id: string): Promise<void> {
    await this.#run(['kill', '--all', id, 'KILL']);
    const r = await this.#run(['delete', '--force', id]);
    if (r.code !== 0 && (await this.state(id)).status !== 'absent')
      fail('CONTAINER_STOP_FAILED', `crun delete ${id} failed: ${r.stderr.trim().slice(-500)}`);
  }

  /**
   * Every container under this root with its status, in one call: the monitor asks this
   * once a pass rather than once per container.
   * @throws VdcError CONTAINER_RUNTIME_UNAVAILABLE when crun cannot list
   */
  async statuses(): Promise<Map<string, ContainerStatus>> {
    const r = await this.#run(['list', '--format', 'json'], undefined, true);
    if (r.code !== 0)
      fail('CONTAINER_RUNTIME_UNAVAILABLE', `crun list failed: ${r.stderr.trim().slice(-500)}`);
    const list = JSON.parse(r.stdout) as { id: string; status: ContainerStatus }[];
    return new Map(list.map((c) => [c.id, c.status]));
  }
}
