import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../core/assert.ts';
import { killContainers, removeContainerCgroups } from './container-sweep.ts';
import { deleteLink, deleteNamespace, listLinks, listNamespaces, namespacePids } from './netns.ts';
import {
  isAlive,
  listRuns,
  type ProcessIdentity,
  type RunRecord,
  readRecord,
  removeRecord,
} from './run-record.ts';
import { releaseSubnet, sweepOrphanLocks } from './subnet.ts';

/*
 * Destroying what a run record lists, in the order that leaves nothing behind: processes
 * first (a namespace with a process in it outlives its name, and its links with it), then
 * the containers the nodes left (once no agent is left to restart them), then
 * the host ends of the veth pairs (which take their peers with them at once, rather than
 * whenever the kernel gets round to a dead namespace), the bridge, then the namespaces,
 * the subnet lock, and last the record itself. Every step tolerates an object that is
 * already gone, so two sweepers racing over one stale run, or a teardown after a sweep,
 * are harmless. A step that fails for another reason keeps the record, so a later sweep
 * tries again.
 */

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone between the check and the signal: nothing left to stop.
  }
}

/** Processes of the run still alive: the recorded ones, and anything else inside its namespaces. */
function liveProcesses(record: RunRecord): { groups: ProcessIdentity[]; pids: number[] } {
  const groups = record.processes.filter(isAlive);
  const present = new Set(listNamespaces());
  const pids: number[] = [];
  for (const ns of record.namespaces) {
    if (!present.has(ns)) continue;
    try {
      pids.push(...namespacePids(ns));
    } catch {
      // Deleted meanwhile (a racing sweeper): nothing in it to kill.
    }
  }
  return { groups, pids: pids.filter((p) => p !== process.pid && p > 1) };
}

function signalAll(record: RunRecord, sig: NodeJS.Signals): number {
  const { groups, pids } = liveProcesses(record);
  // A recorded process leads its own group (spawned detached): signal the whole group.
  for (const p of groups) signal(-p.pid, sig);
  for (const pid of pids) signal(pid, sig);
  return groups.length + pids.length;
}

function destroyObjects(record: RunRecord): string[] {
  const errors: string[] = [];
  const attempt = (what: string, exists: () => boolean, destroy: () => void) => {
    try {
      destroy();
    } catch (err) {
      if (exists()) errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  const links = () => new Set(listLinks());
  const namespaces = () => new Set(listNamespaces());
  // Newest first: the veth ends leave the bridge (recorded first) before it goes.
  const presentLinks = links();
  for (const link of [...record.links].reverse())
    if (presentLinks.has(link))
      attempt(
        `link ${link}`,
        () => links().has(link),
        () => deleteLink(link),
      );
  const presentNs = namespaces();
  for (const ns of record.namespaces)
    if (presentNs.has(ns))
      attempt(
        `namespace ${ns}`,
        () => namespaces().has(ns),
        () => deleteNamespace(ns),
      );
  return errors;
}

function finish(record: RunRecord, errors: string[]): void {
  if (errors.length > 0)
    fail(
      'GRID_TEARDOWN_INCOMPLETE',
      `run ${record.run} left ${errors.join('; ')}: the record stays, so the next grid's sweep retries; or remove them with 'ip'`,
    );
  releaseSubnet(record.subnet, record.run);
  removeRecord(record.run);
}

/**
 * Destroys everything `record` lists, asking processes to stop (SIGTERM) and killing what
 * is left after `graceMs`.
 * @throws VdcError GRID_TEARDOWN_INCOMPLETE naming what could not be removed
 */
export async function destroyRun(record: RunRecord, graceMs = 3000): Promise<void> {
  if (graceMs > 0 && signalAll(record, 'SIGTERM') > 0) {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      const { groups, pids } = liveProcesses(record);
      if (groups.length === 0 && pids.length === 0) break;
      await sleep(50);
    }
  }
  signalAll(record, 'SIGKILL');
  const containers = killContainers(record.containerRoots);
  const deadline = Date.now() + graceMs;
  while (containers.some(isAlive) && Date.now() < deadline) await sleep(50);
  removeContainerCgroups(containers);
  finish(record, destroyObjects(record));
}

/**
 * The same without waiting: SIGKILL, then remove. For a process 'exit' hook and the sweeper.
 * @throws VdcError GRID_TEARDOWN_INCOMPLETE
 */
export function destroyRunSync(record: RunRecord): void {
  signalAll(record, 'SIGKILL');
  // Their cgroups are not empty yet this instant: best effort, an empty cgroup may stay.
  removeContainerCgroups(killContainers(record.containerRoots));
  finish(record, destroyObjects(record));
}

/**
 * Removes the leftovers of every run whose owning process (pid and start time) is gone —
 * a test that crashed or was killed — and subnet locks of runs without a record. Runs kept
 * on purpose (no owner) and runs of live processes are left alone. Returns the run ids it
 * swept; a run it could not sweep entirely keeps its record and is retried next time.
 */
export function sweepStaleRuns(): string[] {
  const swept: string[] = [];
  for (const run of listRuns()) {
    const record = readRecord(run);
    if (!record || record.owner === null || isAlive(record.owner)) continue;
    try {
      destroyRunSync(record);
      swept.push(run);
    } catch {
      // Kept for the next sweep (GRID_TEARDOWN_INCOMPLETE): one stuck run must not stop a new grid.
    }
  }
  sweepOrphanLocks();
  return swept;
}

/**
 * Tears down the run `run` whoever made it (e.g. `vdc down` for a grid kept past `vdc up`).
 * @throws VdcError GRID_RUN_NOT_FOUND, GRID_TEARDOWN_INCOMPLETE
 */
export async function teardownRun(run: string, graceMs = 3000): Promise<void> {
  const record = readRecord(run);
  if (!record)
    fail('GRID_RUN_NOT_FOUND', `no valid record of grid run ${run}: it was torn down already`);
  await destroyRun(record, graceMs);
}
