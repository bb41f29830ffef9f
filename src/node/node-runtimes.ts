import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { toHex } from '../core/hex.ts';
import type { Logger } from '../core/log.ts';
import type { Identity } from '../identity/index.ts';
import { detectCgroupLayout } from './cgroup-layout.ts';
import { ContainerRuntime } from './container-runtime.ts';
import type { WorkloadRuntime } from './deployment-engine.ts';
import { GatewayRuntime, type NodeLedgerLink } from './gateway-runtime.ts';
import { ImageCache } from './image-cache.ts';
import { openSecret } from './secret-seal.ts';
import type { WorkloadKind } from './workload-kinds.ts';

/*
 * The runtimes a node offers, found on the machine: the container runtime when crun runs
 * and the host mounts cgroups; the gateway runtime with it, when nsenter runs (it forwards
 * into containers' networks). A kind without its runtime is not an error at start: the
 * engine refuses such workloads with WORKLOAD_KIND_UNAVAILABLE, and the log says why here.
 */

export interface NodeRuntimesOptions {
  data: string;
  identity: Identity;
  logger: Logger;
  /** false to offer no container runtime (`vdc node serve --no-containers`) */
  containers?: boolean;
  crunBinary?: string;
  nsenterBinary?: string;
}

/** Whether `binary --version` runs. */
function runs(binary: string): boolean {
  const r = spawnSync(binary, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** The runtimes this node can run, by kind. */
export function nodeRuntimes(
  o: NodeRuntimesOptions,
): Partial<Record<WorkloadKind, WorkloadRuntime>> {
  if (o.containers === false) return {};
  const crun = o.crunBinary ?? 'crun';
  const layout = detectCgroupLayout();
  const missing = !runs(crun)
    ? `${crun} does not run (Debian package crun)`
    : !layout
      ? 'the host mounts no cgroup hierarchy'
      : process.getuid?.() !== 0
        ? 'the node agent is not root, and containers need user namespaces with a uid range of their own'
        : undefined;
  if (missing || !layout) {
    o.logger.log('warn', 'no container runtime on this node', {
      code: 'CONTAINER_RUNTIME_UNAVAILABLE',
      why: missing,
    });
    return {};
  }
  const container = new ContainerRuntime({
    data: o.data,
    images: new ImageCache(join(o.data, 'images')),
    layout,
    // The agent's key names its cgroups, so agents sharing a host (the test grid) never meet.
    nodeTag: toHex(o.identity.signingPublicKey).slice(0, 12),
    logger: o.logger.child({ part: 'containers' }),
    openSecret: (sealed, context) => openSecret(sealed, o.identity, context),
    ...(o.crunBinary ? { crunBinary: o.crunBinary } : {}),
  });
  o.logger.log('info', 'container runtime ready', { cgroups: layout.kind });
  const nsenter = o.nsenterBinary ?? 'nsenter';
  if (!runs(nsenter)) {
    o.logger.log('warn', 'no gateway runtime on this node', {
      code: 'GATEWAY_WORKLOAD_UNAVAILABLE',
      why: `${nsenter} does not run (Debian package util-linux)`,
    });
    return { container };
  }
  const gateway = new GatewayRuntime({
    data: o.data,
    identity: o.identity,
    containers: container,
    logger: o.logger.child({ part: 'gateways' }),
    ...(o.nsenterBinary ? { nsenter: o.nsenterBinary } : {}),
  });
  return { container, gateway };
}

/**
 * Gives the runtimes that need them the node's ledger view, ledger and node id, which
 * exist only once the agent has registered or resumed (the runtimes are made before).
 */
export function attachLedger(
  runtimes: Partial<Record<WorkloadKind, WorkloadRuntime>>,
  link: NodeLedgerLink,
): void {
  for (const runtime of Object.values(runtimes))
    if (runtime instanceof GatewayRuntime) runtime.attachLedger(link);
}
