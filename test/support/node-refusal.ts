import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorCode } from '../../src/core/error-codes.ts';
import { VdcError } from '../../src/core/errors.ts';
import type { Workload } from '../../src/node/index.ts';
import { call, contractAndDeployment, type NodeGrid, nodeState } from './node-fixture.ts';

/*
 * The shape of every refused-deployment attack on an in-process node: the refusal carries
 * its code, and the node holds exactly what it held before.
 */

/** A folder's entries, sorted; none when it does not exist. */
export function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/**
 * What the node holds: stored deployments, crun's containers and their bundles, and what
 * the caller adds (cached images, gateway folders…).
 */
export function nodeFootprint(grid: NodeGrid, more: Record<string, unknown> = {}): string {
  const crun = spawnSync('crun', ['--root', join(grid.nodeData, 'crun'), 'list', '--quiet'], {
    encoding: 'utf8',
  });
  return JSON.stringify({
    state: nodeState(grid),
    crun: crun.stdout.split('\n').filter(Boolean).sort(),
    bundles: entries(join(grid.nodeData, 'containers')),
    ...more,
  });
}

/** Sends a deployment of `workloads`; it must be refused with `code` and change nothing `footprint` sees. */
export async function deploymentRefused(
  grid: NodeGrid,
  workloads: Workload[],
  code: ErrorCode,
  footprint: () => string,
): Promise<void> {
  const { deployment } = await contractAndDeployment(grid, grid.user, workloads);
  const before = footprint();
  await assert.rejects(
    call(grid.user, grid.agent, 'deployment.deploy', { deployment } as never),
    (err: unknown) => {
      assert.ok(err instanceof VdcError, String(err));
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
  assert.equal(footprint(), before, 'a refused deployment changed the node');
}
