import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startNetnsGrid } from '../../src/grid/index.ts';
import {
  crunState,
  deployDirect,
  serveBusyboxImage,
  waitUntil,
} from '../support/container-grid.ts';
import { requireCommand, requireRoot } from '../support/requirements.ts';

/*
 * P1: root in a container is an unprivileged uid of the host that owns nothing of another
 * container — also when two node agents share one machine (the local grid, tests side by
 * side). Each container's host id range must be its own across agents, not only within one.
 */

/** The host uids a process runs as (real, effective, saved, fs). */
function hostUids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)?.[1] ?? '';
  return line.trim().split(/\s+/).map(Number);
}

/** The first host id of a process's user namespace range (its uid 0 maps there). */
function rangeStart(pid: number): number {
  const map = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
  assert.equal(map[0], 0, 'the container sees itself as root');
  return map[1]!;
}

test('P1: containers of two agents on one host run in disjoint host uid ranges', async (t) => {
  if (!requireRoot(t) || !requireCommand(t, 'crun') || !requireCommand(t, 'busybox')) return;
  const grid = await startNetnsGrid({ nodes: 2, test: t, ledgerHeartbeatMs: 1000 });
  const { url, sha256 } = await serveBusyboxImage(grid);
  const spec = {
    image: { url, sha256 },
    resources: { cpu: 100, memory: 32 * 2 ** 20 },
    entrypoint: ['/bin/sh', '-c', 'while true; do sleep 1; done'],
  };
  const pids: number[] = [];
  for (const node of grid.nodes) {
    // Two containers per node: the agents' first slots are where a collision would be.
    for (const name of ['a', 'b']) {
      const contract = await deployDirect(node, grid.user, [{ name, kind: 'container', spec }]);
      const state = await waitUntil(`${name} running on node ${node.id}`, () => {
        const s = crunState(node, `c${contract}-${name}`);
        return s?.status === 'running' ? s : undefined;
      });
      pids.push(state.pid);
    }
  }
  const starts = pids.map(rangeStart);
  assert.equal(new Set(starts).size, 4, `ranges shared: ${starts.join(' ')}`);
  for (const [i, pid] of pids.entries()) {
    const uids = hostUids(pid);
    assert.ok(
      uids.every((u) => u === starts[i]),
      `container root runs as host uid ${starts[i]} (its range's first), not root: ${uids}`,
    );
    for (const [j, other] of starts.entries())
      if (j !== i)
        assert.ok(
          Math.abs(other - starts[i]!) >= 65_536,
          `ranges ${starts[i]} and ${other} overlap`,
        );
  }
});
