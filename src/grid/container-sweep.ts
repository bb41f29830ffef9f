import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type ProcessIdentity } from './run-record.ts';

/*
 * Containers outlive their node agent on purpose (crun create: the init is not the agent's
 * child, so workloads run on through an agent restart), and they sit in network and pid
 * namespaces of their own, so neither the agent's process group nor `ip netns pids` of the
 * node's namespace finds them. Teardown finds them where crun keeps its state: every
 * `<crun root>/<id>/status` names the container's init pid and its start time (the same
 * clock ticks as /proc/PID/stat field 22). SIGKILL to the init ends the container's whole
 * pid namespace. Its empty cgroup is removed afterwards where the kernel allows (rmdir
 * only ever removes an empty cgroup).
 */

export interface ContainerInit extends ProcessIdentity {
  id: string;
  cgroupPath: string | undefined;
}

/** The containers recorded under a crun state root whose init still runs. */
export function liveContainers(root: string): ContainerInit[] {
  let ids: string[];
  try {
    ids = readdirSync(root);
  } catch {
    return []; // no container was ever made there
  }
  const found: ContainerInit[] = [];
  for (const id of ids) {
    let status: Record<string, unknown>;
    try {
      status = JSON.parse(readFileSync(join(root, id, 'status'), 'utf8')) as Record<
        string,
        unknown
      >;
    } catch {
      continue; // being created or deleted: nothing to kill yet
    }
    const pid = status['pid'];
    const start = status['process-start-time'];
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) continue;
    if (typeof start !== 'number' && typeof start !== 'string') continue;
    const init = {
      id,
      pid,
      startTicks: String(start),
      cgroupPath: typeof status['cgroup-path'] === 'string' ? status['cgroup-path'] : undefined,
    };
    if (isAlive(init)) found.push(init);
  }
  return found;
}

/** SIGKILLs the init of every live container under `roots`; returns them. */
export function killContainers(roots: readonly string[]): ContainerInit[] {
  const killed: ContainerInit[] = [];
  for (const root of roots)
    for (const init of liveContainers(root)) {
      try {
        process.kill(init.pid, 'SIGKILL');
        killed.push(init);
      } catch {
        // Ended between the check and the signal.
      }
    }
  return killed;
}

/** Removes the (now empty) cgroups of killed containers, on cgroup v2 and v1 hierarchies. */
export function removeContainerCgroups(killed: readonly ContainerInit[]): void {
  let hierarchies: string[];
  try {
    hierarchies = ['', ...readdirSync('/sys/fs/cgroup')];
  } catch {
    return;
  }
  for (const { cgroupPath } of killed) {
    // Only the node runtime's own cgroups (`/vdc/<node>/<container>`), never a parent of others.
    if (!cgroupPath?.startsWith('/vdc/') || cgroupPath.includes('..')) continue;
    // The node's own parent (`/vdc/<node>`) goes too once its last container has.
    const parent = /^\/vdc\/[0-9a-f]+\/[^/]+$/.test(cgroupPath)
      ? cgroupPath.slice(0, cgroupPath.lastIndexOf('/'))
      : undefined;
    for (const h of hierarchies)
      for (const path of parent ? [cgroupPath, parent] : [cgroupPath]) {
        try {
          rmdirSync(join('/sys/fs/cgroup', h, path));
        } catch {
          // Not in this hierarchy, or not empty yet: nothing more to do here.
        }
      }
  }
}
