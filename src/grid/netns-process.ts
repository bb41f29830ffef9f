import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';

/*
 * One process a run started inside one of its namespaces: the leader of its own process
 * group, its stdout and stderr appended to a log file. Stopping signals the whole group,
 * so anything it started goes with it.
 */

export const STOP_GRACE_MS = 10_000;

export class NetnsProcess {
  readonly name: string;
  readonly namespace: string;
  readonly log: string;
  readonly pid: number;
  /** resolves with the exit code (null when a signal ended it) once the process is gone */
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  readonly #child: ChildProcess;

  constructor(name: string, namespace: string, log: string, child: ChildProcess) {
    this.name = name;
    this.namespace = namespace;
    this.log = log;
    this.#child = child;
    this.pid = child.pid!;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** The exit code once exited (null for a signal), undefined while it runs. */
  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  #signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      this.#child.kill(sig); // not a group leader any more: at least the process itself
    }
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.#signal('SIGTERM');
    const timer = new AbortController();
    const late = sleep(graceMs, 'late' as const, { signal: timer.signal }).catch(() => 'ended');
    const first = await Promise.race([this.exited, late]);
    timer.abort(); // no timer left to hold the event loop
    if (first === 'late') this.#signal('SIGKILL');
    await this.exited;
  }

  /** SIGKILL to the group, as a crash or a pulled plug would; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.#signal('SIGKILL');
    await this.exited;
  }

  /**
   * Lets this process end without waiting for the child: it runs on in its own session
   * (the local grid of `vdc up` leaves its services running when the command returns).
   */
  unref(): void {
    this.#child.unref();
  }

  /** The last `lines` lines of its log. */
  tail(lines = 30): string {
    return tailOf(this.log, lines);
  }
}

/**
 * Opens `path` for appending, for a child's stdout and stderr; the caller closes it after
 * spawning. Never through a symbolic link (O_NOFOLLOW): root writes logs into folders, and a
 * link planted there must not make it append to a file elsewhere.
 * @throws VdcError GRID_FOLDER_UNSAFE when `path` is a symbolic link
 */
export function openLog(path: string): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = constants;
  try {
    return openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      fail('GRID_FOLDER_UNSAFE', `the log ${path} is a symbolic link: remove it, then run again`);
    throw err;
  }
}

export function closeLog(fd: number): void {
  closeSync(fd);
}

export function tailOf(path: string, lines = 30): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
