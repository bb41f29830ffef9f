import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fail } from '../core/assert.ts';

/*
 * One forwarder process (netns-forwarder-main.ts) for one `gateway` workload: entered into
 * the container's network namespace by nsenter, listening on `socket`, and running as the
 * uid and gid given (it drops root itself once it listens, with its supplementary groups). A container's namespace holds
 * only loopback, so this is the one way in for the tunnel; the socket's folder is the
 * forwarder uid's alone. The agent keeps the forwarder's stdin: when the agent dies, the
 * forwarder's stdin closes and it exits, so none outlives it.
 */

const MAIN = new URL('./netns-forwarder-main.ts', import.meta.url);
let source: string | undefined;

/** The program's source, run as JavaScript (see netns-forwarder-main.ts); read once. */
function program(): string {
  source ??= readFileSync(MAIN, 'utf8');
  return source;
}
const READY_MS = 10_000;
const STOP_MS = 3000;

/**
 * When process `pid` started (field 22 of /proc/PID/stat, in clock ticks since boot), or
 * undefined when there is no such process: a pid with another start time is another process.
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface ForwarderTarget {
  /** a process in the container's network namespace: its init */
  pid: number;
  /** who the forwarder runs as */
  uid: number;
  gid: number;
  /** the port inside the container */
  port: number;
}

export interface ForwarderOptions {
  /** the unix socket the forwarder listens on */
  socket: string;
  nsenter?: string;
  /** the node binary; the agent's own by default */
  node?: string;
  readyMs?: number;
}

export class NetnsForwarder {
  readonly target: ForwarderTarget;
  readonly socket: string;
  /** resolves when the process has exited, for any reason */
  readonly exited: Promise<void>;
  readonly #child: ChildProcess;
  #running = true;
  #stderr = '';

  private constructor(child: ChildProcess, target: ForwarderTarget, socket: string) {
    this.#child = child;
    this.target = target;
    this.socket = socket;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.#running = false;
        resolve();
      });
      child.once('error', () => {
        this.#running = false;
        resolve();
      });
    });
  }

  /** Whether the process still runs. */
  get running(): boolean {
    return this.#running;
  }

  /** The forwarder's own pid (on the host). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The last of what the forwarder wrote to stderr, for messages. */
  get stderr(): string {
    return this.#stderr.trim();
  }

  /**
   * Starts a forwarder and waits until it listens.
   * @throws VdcError GATEWAY_FORWARDER_FAILED with what it said
   */
  static async start(target: ForwarderTarget, o: ForwarderOptions): Promise<NetnsForwarder> {
    const args = [
      `--net=/proc/${target.pid}/ns/net`,
      '--',
      o.node ?? process.execPath,
      '--input-type=module',
      '-e',
      program(),
      o.socket,
      String(target.port),
      String(target.uid),
      String(target.gid),
    ];
    const child = spawn(o.nsenter ?? 'nsenter', args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // nothing of the agent's environment (its passphrase, say) goes with it
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    const f = new NetnsForwarder(child, target, o.socket);
    const readyMs = o.readyMs ?? READY_MS;
    const ready = await new Promise<boolean>((resolve) => {
      let out = '';
      const timer = setTimeout(() => resolve(false), readyMs);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void f.exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ready) {
      const running = f.running;
      await f.stop();
      fail(
        'GATEWAY_FORWARDER_FAILED',
        `the forwarder into the network of process ${target.pid} (port ${target.port}) ${running ? `did not listen within ${readyMs} ms` : 'exited before it listened'}${f.stderr ? `: ${f.stderr}` : ''}`,
      );
    }
    return f;
  }

  /** Stops the process (TERM, then KILL) and removes the socket. */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#child.kill('SIGTERM');
      const late = setTimeout(() => this.#child.kill('SIGKILL'), STOP_MS);
      await this.exited;
      clearTimeout(late);
    }
    this.#child.stdin?.destroy();
    rmSync(this.socket, { force: true });
  }

  /** Stops the process at once (the agent is closing) and removes the socket. */
  kill(): void {
    if (this.#running) this.#child.kill('SIGKILL');
    this.#child.stdin?.destroy();
    rmSync(this.socket, { force: true });
  }
}
