import { fail } from '../core/assert.ts';
import { canonicalize } from '../core/canonical-json.ts';
import type { Clock } from '../core/clock.ts';
import { asVdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Projection } from '../ledger/index.ts';
import { checkDeployment } from './deployment-checks.ts';
import {
  type Deployment,
  deploymentHash,
  parseDeployment,
  type Workload,
} from './deployment-document.ts';
import type {
  DeploymentChange,
  DeploymentStore,
  StoredDeployment,
  WorkloadState,
  WorkloadStatus,
} from './deployment-store.ts';
import { inDependencyOrder, KIND_RUNTIMES, type WorkloadKind } from './workload-kinds.ts';

/*
 * The deployment engine: checks (deployment-checks.ts), applies and stores deployments,
 * removes those whose contract is no longer active (reconcile), and fences every
 * deployment while the node's view of the ledger is stale. Changes are serialised, so two
 * requests for one contract never interleave. Workloads run through runtimes, one per kind;
 * a kind without a runtime on this node is refused before anything changes.
 */

/** A workload's state as its runtime sees it now. */
export interface RuntimeStatus {
  state: WorkloadState;
  message: string;
}

/**
 * What runs one kind of workload. The container, zdb, network and gateway runtimes plug in
 * here. `apply` brings the workload to the given spec and is idempotent: a workload already
 * running that spec is left alone, one stopped (fence, reboot) is started again.
 */
export interface WorkloadRuntime {
  apply(contract: number, workload: Workload, owner: { twin: number }): Promise<void>;
  remove(contract: number, name: string): Promise<void>;
  /** stops the workload but keeps what a later apply needs to resume it (fences) */
  stop?(contract: number, name: string): Promise<void>;
  status?(contract: number, name: string): RuntimeStatus | undefined;
  /** the last `maxBytes` of the workload's output */
  logs?(contract: number, name: string, maxBytes: number): string;
  /** stops the runtime's own timers; its workloads run on */
  close?(): void;
}

export interface EngineOptions {
  store: DeploymentStore;
  /** the node's own verified projection; throws once the follower met a forged log */
  view: () => Projection;
  ledger: string;
  node: number;
  clock: Clock;
  logger: Logger;
  runtimes?: Partial<Record<WorkloadKind, WorkloadRuntime>>;
  /**
   * Brings the view up to the ledger's newest verified head before a deployment is checked,
   * so a contract created a moment ago is known. Failing to sync is not fatal: the checks
   * then run on the view the node has, whose staleness the fence bounds.
   */
  sync?: () => Promise<void>;
  /** the memory (bytes) the node can give its workloads, for the capacity check */
  memory?: () => number;
}

export type DeploymentState = 'ok' | 'fenced';

/** A deployment as its owner sees it through the message API. */
export interface DeploymentView {
  contract: number;
  twin: number;
  version: number;
  hash: string;
  state: DeploymentState;
  workloads: WorkloadStatus[];
  createdAt: number;
  updatedAt: number;
}

export class DeploymentEngine {
  readonly #o: EngineOptions;
  #fenced = false;
  #fenceReason = '';
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: EngineOptions) {
    this.#o = opts;
  }

  get fenced(): boolean {
    return this.#fenced;
  }

  /** Runs `fn` after every change queued before it. */
  #serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Checks and applies a new deployment (`mode` deploy) or a newer version (`update`).
   * @throws VdcError NODE_FENCED, DEPLOYMENT_MALFORMED, the checks' codes, WORKLOAD_KIND_UNAVAILABLE
   */
  submit(sender: number, raw: unknown, mode: 'deploy' | 'update'): Promise<DeploymentView> {
    return this.#serial(async () => {
      if (this.#fenced)
        fail(
          'NODE_FENCED',
          `this node is fenced (${this.#fenceReason}): it changes nothing until it has caught up with the ledger`,
        );
      const doc = parseDeployment(raw);
      // Catch up first when the view may be behind: the contract is not there yet, or it
      // carries another hash (an update the node has not followed yet).
      const known = this.#o.view().contract(doc.signature.contract);
      if (!known || known.deploymentHash !== deploymentHash(doc))
        await this.#o.sync?.().catch((err: unknown) =>
          this.#o.logger.log('warn', 'ledger sync before a deployment failed', {
            code: asVdcError(err).code,
          }),
        );
      const contract = doc.signature.contract;
      const stored = this.#o.store.get(contract);
      const now = this.#o.clock.now();
      const hash = checkDeployment(doc, {
        view: this.#o.view(),
        ledger: this.#o.ledger,
        node: this.#o.node,
        sender,
        now,
        mode,
        storedVersion: stored?.version,
      });
      this.#checkMemory(contract, doc);
      await this.#apply(contract, doc, stored);
      const change: DeploymentChange = {
        at: now,
        version: doc.version,
        event: stored ? 'updated' : 'deployed',
        message: `${doc.workloads.length} workload(s) applied`,
      };
      const record: StoredDeployment = {
        contract,
        twin: doc.twin,
        version: doc.version,
        hash,
        deployment: doc,
        workloads: doc.workloads.map((w) => ({
          name: w.name,
          kind: w.kind,
          state: 'ok',
          message: 'running',
        })),
        createdAt: stored?.createdAt ?? now,
        updatedAt: now,
        changes: [...(stored?.changes ?? []), change],
      };
      this.#o.store.put(record);
      this.#o.logger.log('info', `deployment ${change.event}`, { contract, version: doc.version });
      return this.#view(record);
    });
  }

  /**
   * Applies the workloads of `doc`. Every kind needs a runtime on this node; a missing one
   * refuses the whole deployment before anything runs. A runtime failing part-way undoes
   * what this call applied, leaving the previous version as it was (DESIGN §7).
   */
  async #apply(contract: number, doc: Deployment, previous: StoredDeployment | undefined) {
    const runtimes = this.#o.runtimes ?? {};
    for (const w of doc.workloads) {
      if (!runtimes[w.kind as WorkloadKind])
        fail(
          'WORKLOAD_KIND_UNAVAILABLE',
          `workload ${w.name} is a ${w.kind}, but this node does not have ${KIND_RUNTIMES[w.kind as WorkloadKind]} yet: deploy it to a node that offers it`,
        );
    }
    const applied: Workload[] = [];
    try {
      for (const w of inDependencyOrder(doc.workloads)) {
        await runtimes[w.kind as WorkloadKind]!.apply(contract, w, { twin: doc.twin });
        applied.push(w);
      }
    } catch (err) {
      // Back to the previous version: what it did not have goes, what it had (and this
      // version changed) is applied again as it was. Undo is best effort; the error that
      // matters to the caller is the workload's own.
      const before = new Map(previous?.deployment.workloads.map((w) => [w.name, w]));
      for (const w of applied.reverse()) {
        const old = before.get(w.name);
        const runtime = runtimes[(old ?? w).kind as WorkloadKind];
        if (!old) await runtime?.remove(contract, w.name).catch(() => {});
        else if (canonicalize(old) !== canonicalize(w))
          await runtime?.apply(contract, old, { twin: doc.twin }).catch(() => {});
      }
      throw asVdcError(err); // the workload's own error reaches the caller verbatim
    }
    const next = new Set(doc.workloads.map((w) => w.name));
    for (const w of previous?.deployment.workloads ?? [])
      if (!next.has(w.name)) await runtimes[w.kind as WorkloadKind]?.remove(contract, w.name);
  }

  /**
   * Refuses a deployment whose containers, with every other deployment's, would need more
   * memory than the node has: a limit the node cannot honour is a promise it cannot keep.
   */
  #checkMemory(contract: number, doc: Deployment): void {
    const total = this.#o.memory?.();
    if (total === undefined) return;
    const memory = (workloads: Workload[]) =>
      workloads.reduce((sum, w) => {
        const r = w.kind === 'container' ? (w.spec['resources'] as { memory?: number }) : {};
        return sum + (r.memory ?? 0);
      }, 0);
    const others = this.#o.store
      .all()
      .filter((r) => r.contract !== contract)
      .reduce((sum, r) => sum + memory(r.deployment.workloads), 0);
    const asked = memory(doc.workloads);
    if (asked + others > total)
      fail(
        'WORKLOAD_CAPACITY_EXCEEDED',
        `the deployment asks for ${asked} bytes of memory and this node has ${Math.max(0, total - others)} left (of ${total}): ask for less or deploy to a larger node`,
      );
  }

  /** Removes the sender's deployment. @throws VdcError DEPLOYMENT_NOT_FOUND */
  delete(sender: number, contract: number): Promise<{ contract: number; deleted: true }> {
    return this.#serial(async () => {
      this.#own(sender, contract);
      await this.#remove(contract, 'deleted by its owner');
      return { contract, deleted: true as const };
    });
  }

  async #remove(contract: number, why: string): Promise<void> {
    const record = this.#o.store.get(contract);
    if (!record) return;
    for (const w of inDependencyOrder(record.deployment.workloads).reverse())
      await this.#o.runtimes?.[w.kind as WorkloadKind]?.remove(contract, w.name);
    this.#o.store.remove(contract);
    this.#o.logger.log('info', 'deployment removed', { contract, why });
  }

  #own(sender: number, contract: number): StoredDeployment {
    const record = this.#o.store.get(contract);
    // Another twin's deployment is "not found": its existence is not the sender's to learn.
    if (!record || record.twin !== sender)
      fail('DEPLOYMENT_NOT_FOUND', `you have no deployment for contract ${contract} on this node`);
    return record;
  }

  #view(r: StoredDeployment): DeploymentView {
    const state: DeploymentState = this.#fenced ? 'fenced' : 'ok';
    return {
      contract: r.contract,
      twin: r.twin,
      version: r.version,
      hash: r.hash,
      state,
      workloads: r.workloads.map((w) => {
        if (this.#fenced) return { ...w, state, message: `stopped: ${this.#fenceReason}` };
        const now = this.#o.runtimes?.[w.kind as WorkloadKind]?.status?.(r.contract, w.name);
        return now ? { ...w, ...now } : w;
      }),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
  }

  /** The sender's deployment with its document. @throws VdcError DEPLOYMENT_NOT_FOUND */
  get(sender: number, contract: number): DeploymentView & { deployment: Deployment } {
    const r = this.#own(sender, contract);
    return { ...this.#view(r), deployment: r.deployment };
  }

  /** The sender's deployments on this node. */
  list(sender: number): DeploymentView[] {
    return this.#o.store
      .all()
      .filter((r) => r.twin === sender)
      .map((r) => this.#view(r));
  }

  /**
   * The sender's own workloads with their state and the tail of their output, for
   * node.diagnostics; one deployment when `contract` is given.
   * @throws VdcError DEPLOYMENT_NOT_FOUND
   */
  diagnostics(sender: number, contract: number | undefined, tailBytes: number) {
    const records =
      contract === undefined
        ? this.#o.store.all().filter((r) => r.twin === sender)
        : [this.#own(sender, contract)];
    return records.map((r) => {
      const v = this.#view(r);
      return {
        ...v,
        workloads: v.workloads.map((w) => ({
          ...w,
          logs:
            this.#o.runtimes?.[w.kind as WorkloadKind]?.logs?.(r.contract, w.name, tailBytes) ?? '',
        })),
      };
    });
  }

  /** The history of the sender's deployment. @throws VdcError DEPLOYMENT_NOT_FOUND */
  changes(sender: number, contract: number): DeploymentChange[] {
    return this.#own(sender, contract).changes;
  }

  /** Every deployment held, for the agent and tests. */
  all(): DeploymentView[] {
    return this.#o.store.all().map((r) => this.#view(r));
  }

  /**
   * Removes every deployment whose contract is not active for this node and its twin in
   * the node's own projection (cancelled, expired, unknown). Returns the contracts removed.
   */
  reconcile(): Promise<number[]> {
    return this.#serial(async () => {
      const view = this.#o.view();
      const now = this.#o.clock.now();
      const removed: number[] = [];
      for (const r of this.#o.store.all()) {
        const c = view.activeContract(r.contract, now);
        if (c && c.node === this.#o.node && c.twin === r.twin) continue;
        const why = view.contract(r.contract)
          ? 'its contract is cancelled or expired'
          : 'its contract is unknown to the ledger';
        await this.#remove(r.contract, why);
        removed.push(r.contract);
      }
      return removed;
    });
  }

  /**
   * Fences (true) or unfences every deployment. While fenced, workloads are stopped and
   * nothing new is accepted; each transition is recorded in every deployment's changes.
   */
  setFenced(fenced: boolean, reason: string): Promise<void> {
    return this.#serial(async () => {
      if (fenced === this.#fenced) {
        this.#fenceReason = reason;
        return;
      }
      this.#fenced = fenced;
      this.#fenceReason = reason;
      const now = this.#o.clock.now();
      this.#o.logger.log('warn', fenced ? 'fenced: stopping workloads' : 'unfenced', { reason });
      if (fenced) await this.#stopAll();
      else await this.#resumeAll();
      for (const r of this.#o.store.all())
        this.#o.store.put({
          ...r,
          changes: [
            ...r.changes,
            { at: now, version: r.version, event: fenced ? 'fenced' : 'unfenced', message: reason },
          ],
        });
    });
  }

  /**
   * Brings every stored deployment's workloads back to their spec: after an agent restart
   * (containers that ran on are left alone) or a fence. A workload that cannot be started
   * is recorded as failed with the runtime's error; the others still resume.
   */
  resume(): Promise<void> {
    return this.#serial(() => (this.#fenced ? undefined : this.#resumeAll()));
  }

  async #resumeAll(): Promise<void> {
    for (const r of this.#o.store.all()) {
      const workloads: WorkloadStatus[] = [];
      for (const w of inDependencyOrder(r.deployment.workloads)) {
        const runtime = this.#o.runtimes?.[w.kind as WorkloadKind];
        try {
          if (!runtime) fail('WORKLOAD_KIND_UNAVAILABLE', `no runtime for ${w.kind} on this node`);
          await runtime.apply(r.contract, w, { twin: r.twin });
          workloads.push({ name: w.name, kind: w.kind, state: 'ok', message: 'running' });
        } catch (err) {
          const e = asVdcError(err);
          this.#o.logger.log('error', 'a workload did not resume', {
            contract: r.contract,
            workload: w.name,
            code: e.code,
          });
          const message = `could not be started again: ${e.code}: ${e.message}`;
          workloads.push({ name: w.name, kind: w.kind, state: 'failed', message });
        }
      }
      const at = new Map(r.deployment.workloads.map((w, i) => [w.name, i]));
      workloads.sort((a, b) => at.get(a.name)! - at.get(b.name)!);
      this.#o.store.put({ ...r, workloads });
    }
  }

  async #stopAll(): Promise<void> {
    for (const r of this.#o.store.all())
      for (const w of inDependencyOrder(r.deployment.workloads).reverse())
        await this.#o.runtimes?.[w.kind as WorkloadKind]
          ?.stop?.(r.contract, w.name)
          .catch((err: unknown) =>
            this.#o.logger.log('error', 'a workload did not stop on fence', {
              contract: r.contract,
              workload: w.name,
              code: asVdcError(err).code,
            }),
          );
  }
}
