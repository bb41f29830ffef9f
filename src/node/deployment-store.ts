import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import type { JsonValue } from '../core/canonical-json.ts';
import { parseJson } from '../core/strict-json.ts';
import { type Deployment, deploymentHash, parseDeployment } from './deployment-document.ts';

/*
 * The deployments a node holds, one file per contract under `<data>/deployments/`, each
 * replaced atomically (write beside, fsync, rename), so a crash leaves the old record or
 * the new one, never half of one. Read back whole at start: every accepted deployment is
 * listed and resumed after a restart. A file that does not read back as a record is an
 * error at start rather than something skipped, since skipping it would silently drop a
 * deployment its owner paid for.
 */

/**
 * `ok`: running as deployed; `fenced`: stopped while the node's ledger view is stale;
 * `stopped`: stopped by the node; `exited`: its process ended; `oom-killed`: ended by the
 * OOM killer past its memory limit; `failed`: the node could not start it again (resume).
 */
export type WorkloadState = 'ok' | 'fenced' | 'stopped' | 'exited' | 'oom-killed' | 'failed';

export interface WorkloadStatus {
  name: string;
  kind: string;
  state: WorkloadState;
  message: string;
}

/** One entry of a deployment's history, as `deployment.changes` returns it. */
export interface DeploymentChange {
  at: number;
  version: number;
  event: 'deployed' | 'updated' | 'fenced' | 'unfenced';
  message: string;
}

export interface StoredDeployment {
  contract: number;
  twin: number;
  version: number;
  hash: string;
  deployment: Deployment;
  workloads: WorkloadStatus[];
  createdAt: number;
  updatedAt: number;
  changes: DeploymentChange[];
}

/** Changes kept per deployment; the oldest are dropped first. */
export const MAX_CHANGES = 100;

export class DeploymentStore {
  readonly dir: string;
  readonly #records = new Map<number, StoredDeployment>();

  /** @throws VdcError NODE_STATE_CORRUPT for a file that is not a deployment record */
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      const m = /^([1-9][0-9]{0,14})\.json$/.exec(name);
      if (!m) continue; // temporary files of an interrupted write, never renamed into place
      const record = readRecord(join(dir, name), Number(m[1]));
      this.#records.set(record.contract, record);
    }
  }

  get(contract: number): StoredDeployment | undefined {
    return this.#records.get(contract);
  }

  all(): StoredDeployment[] {
    return [...this.#records.values()].sort((a, b) => a.contract - b.contract);
  }

  /** Writes the record durably, then makes it visible. @throws VdcError FILE_WRITE_FAILED */
  put(record: StoredDeployment): void {
    const trimmed = { ...record, changes: record.changes.slice(-MAX_CHANGES) };
    writeFileAtomic(this.#path(record.contract), `${JSON.stringify(trimmed)}\n`, 0o600);
    this.#records.set(record.contract, trimmed);
  }

  remove(contract: number): void {
    rmSync(this.#path(contract), { force: true });
    this.#records.delete(contract);
  }

  #path(contract: number): string {
    return join(this.dir, `${contract}.json`);
  }
}

function readRecord(path: string, contract: number): StoredDeployment {
  try {
    const value = parseJson(readFileSync(path)) as { [k: string]: JsonValue };
    const deployment = parseDeployment(value['deployment']);
    const record = value as unknown as StoredDeployment;
    if (
      record.contract !== contract ||
      deployment.signature.contract !== contract ||
      record.twin !== deployment.twin ||
      record.version !== deployment.version ||
      record.hash !== deploymentHash(deployment) ||
      !Array.isArray(record.workloads) ||
      !Array.isArray(record.changes)
    )
      throw new Error('its fields disagree with the deployment it holds');
    return { ...record, deployment };
  } catch (cause) {
    fail(
      'NODE_STATE_CORRUPT',
      `${path} is not a deployment record of this node (${(cause as Error).message}): restore it from a backup or remove it, and the owner redeploys`,
      cause,
    );
  }
}
