import { spawn, spawnSync } from 'node:child_process';

/*
 * --hook: 0-db runs the given program (no shell) with the event name, the instance id
 * (`tcp://addr:port` or `unix://path`) and the event's arguments. Events: ready, close,
 * crash, jump-index, jump-data (closed file, new file), namespace-created,
 * namespace-deleted (name), missing-data (path; waited for: exit 0 means the file is back).
 */

export interface HookRun {
  name: string;
  args: string[];
  pid: number;
  started: number;
  ended: number;
  status: number;
}

export class Hooks {
  readonly program: string | undefined;
  id = 'unknown-id';
  readonly runs: HookRun[] = [];

  constructor(program: string | undefined) {
    this.program = program;
  }

  run(name: string, ...args: string[]): void {
    if (!this.program) return;
    const all = [name, this.id, ...args];
    const child = spawn(this.program, all, { stdio: 'ignore', detached: false });
    const run: HookRun = {
      name,
      args,
      pid: child.pid ?? 0,
      started: Math.floor(Date.now() / 1000),
      ended: 0,
      status: -1,
    };
    this.runs.push(run);
    if (this.runs.length > 128) this.runs.shift();
    child.on('error', () => {
      run.ended = Math.floor(Date.now() / 1000);
      run.status = 127;
    });
    child.on('exit', (code) => {
      run.ended = Math.floor(Date.now() / 1000);
      run.status = code ?? 128;
    });
  }

  /** Runs and waits (missing-data): true when the program exited 0. */
  runWait(name: string, ...args: string[]): boolean {
    if (!this.program) return false;
    const r = spawnSync(this.program, [name, this.id, ...args], {
      stdio: 'ignore',
      timeout: 60_000,
    });
    return r.status === 0;
  }
}
