import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { canonicalize } from '../core/canonical-json.ts';
import { asVdcError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { type CgroupLayout, oomKills, removeEmptyCgroup } from './cgroup-layout.ts';
import { rotateLog, tailLog } from './container-log.ts';
import { openToContainers } from './container-path.ts';
import { Crun } from './crun.ts';
import type { Workload } from './deployment-document.ts';
import type { RuntimeStatus, WorkloadRuntime } from './deployment-engine.ts';
import { ociSpec, UID_RANGE } from './oci-spec.ts';
import { DEFAULT_UID_SLOTS_DIR, UidSlots } from './uid-slots.ts';

/*
 * The `container` runtime: one crun container per workload, in a bundle of its own under
 * `<data>/containers/<id>/` (traverse-only; config.json, 0600, holds decrypted secrets) with the
 * image's rootfs copied in and owned by the container's own host uid range. `apply` is
 * idempotent — a container already running this exact spec is left alone — which is what
 * resuming after an agent restart or a fence relies on. A monitor polls crun and the cgroup
 * so the owner sees a container that exited or was OOM-killed, and rotates its log.
 */

/** What the runtime needs of the image layer (src/node/image-cache.ts). */
export interface ImageSource {
  /** Fetches (or finds cached) the image, verified by digest, unpacked. */
  ensure(image: { url: string; sha256: string }): Promise<unknown>;
  /** Copies the unpacked image to `dest`, entries owned by base + their tar uid/gid. */
  materialize(
    sha256: string,
    dest: string,
    ids: { uidBase: number; gidBase: number },
  ): Promise<void>;
}

export interface ContainerRuntimeOptions {
  /** the node's data folder */
  data: string;
  images: ImageSource;
  layout: CgroupLayout;
  /** unique among agents on this host: names the node's cgroups */
  nodeTag: string;
  logger: Logger;
  /** opens a sealed secret of a workload; the node's identity stays with the agent */
  openSecret?: (
    sealed: string,
    context: { twin: number; workload: string; name: string },
  ) => Buffer;
  /** first host uid of the first container's range */
  uidBase?: number;
  /** where the host's uid ranges are claimed (uid-slots.ts), shared by every agent on it */
  uidSlotsDir?: string;
  monitorMs?: number;
  crunBinary?: string;
}

interface ContainerRecord {
  contract: number;
  name: string;
  specHash: string;
  image: string;
  slot: number;
}

export const DEFAULT_UID_BASE = 1_000_000;
const MAX_SLOTS = 60_000;
const MONITOR_MS = 1000;

interface ContainerSpec {
  image: { url: string; sha256: string };
  resources: { cpu: number; memory: number; pids?: number };
  entrypoint?: string[];
  env?: Record<string, string>;
  secrets?: Record<string, string>;
}

export class ContainerRuntime implements WorkloadRuntime {
  readonly #o: ContainerRuntimeOptions;
  readonly #crun: Crun;
  readonly #dir: string;
  readonly #status = new Map<string, RuntimeStatus>();
  /**
   * Bumped whenever apply, stop or remove touches a container: a monitor pass that began
   * before writes nothing for it, since what crun told the pass may already be stale (a
   * container being created would read as exited).
   */
  #changes = 0;
  readonly #changedAt = new Map<string, number>();
  /** containers an apply, stop or remove is working on: the monitor leaves them alone */
  readonly #busy = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  readonly #slots: UidSlots;

  constructor(o: ContainerRuntimeOptions) {
    this.#o = o;
    this.#dir = join(o.data, 'containers');
    mkdirSync(this.#dir, { recursive: true });
    openToContainers(this.#dir);
    this.#crun = new Crun({
      root: join(o.data, 'crun'),
      layout: o.layout,
      ...(o.crunBinary ? { binary: o.crunBinary } : {}),
    });
    this.#slots = new UidSlots(o.uidSlotsDir ?? DEFAULT_UID_SLOTS_DIR, this.#dir, MAX_SLOTS);
    const live = new Map<number, string>();
    for (const r of this.#records()) {
      const id = this.#id(r.contract, r.name);
      live.set(r.slot, id);
      if (!this.#slots.hold(r.slot, id))
        o.logger.log('error', 'another agent on this host claims this container’s uid range', {
          container: id,
          slot: r.slot,
        });
    }
    this.#slots.prune(live);
    this.#timer = setInterval(() => void this.poll(), o.monitorMs ?? MONITOR_MS);
    this.#timer.unref();
  }

  #id(contract: number, name: string): string {
    return `c${contract}-${name}`;
  }

  #cgroup(id: string): string {
    return `/vdc/${this.#o.nodeTag}/${id}`;
  }

  #record(id: string): ContainerRecord | undefined {
    const file = join(this.#dir, id, 'container.json');
    return existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as ContainerRecord)
      : undefined;
  }

  #records(): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const entry of readdirSync(this.#dir)) {
      const file = join(this.#dir, entry, 'container.json');
      if (existsSync(file)) out.push(JSON.parse(readFileSync(file, 'utf8')) as ContainerRecord);
    }
    return out;
  }

  #touch(id: string): void {
    this.#changedAt.set(id, ++this.#changes);
  }

  async apply(contract: number, w: Workload, owner: { twin: number }): Promise<void> {
    await this.#working(this.#id(contract, w.name), () => this.#apply(contract, w, owner));
  }

  async #working(id: string, fn: () => Promise<void>): Promise<void> {
    this.#busy.add(id);
    try {
      await fn();
    } finally {
      this.#busy.delete(id);
      this.#touch(id);
    }
  }

  async #apply(contract: number, w: Workload, owner: { twin: number }): Promise<void> {
    const spec = w.spec as unknown as ContainerSpec;
    const id = this.#id(contract, w.name);
    const bundle = join(this.#dir, id);
    const specHash = createHash('sha256').update(canonicalize(w.spec)).digest('hex');
    const file = join(bundle, 'container.json');
    const existing = this.#record(id);
    if (existing?.specHash === specHash) {
      const { status } = await this.#crun.state(id);
      if (status === 'running') return;
      // the same spec, stopped by a fence or a reboot: start it again on its own files
      await this.#crun.destroy(id);
      await this.#start(id, bundle);
      return;
    }
    if (existing) await this.remove(contract, w.name);
    // Fetch before anything is made, so a bad image leaves nothing behind.
    await this.#o.images.ensure(spec.image);
    const env = { ...spec.env };
    for (const [name, sealed] of Object.entries(spec.secrets ?? {})) {
      if (!this.#o.openSecret)
        fail('CONTAINER_SECRET_INVALID', `workload ${w.name}: this node cannot open secrets`);
      // the seal binds the value to this twin, workload and name: moved elsewhere, it fails
      const value = this.#o.openSecret(sealed, { twin: owner.twin, workload: w.name, name });
      if (value.includes(0))
        fail(
          'CONTAINER_SECRET_INVALID',
          `workload ${w.name}: secret ${name} holds a NUL byte, which an environment variable cannot carry`,
        );
      env[name] = value.toString('utf8');
    }
    const slot = this.#slots.claim(id);
    const base = (this.#o.uidBase ?? DEFAULT_UID_BASE) + slot * UID_RANGE;
    try {
      mkdirSync(bundle, { mode: 0o711 });
      await this.#o.images.materialize(spec.image.sha256, join(bundle, 'rootfs'), {
        uidBase: base,
        gidBase: base,
      });
      const config = ociSpec(
        {
          hostname: w.name,
          args: spec.entrypoint ?? ['/bin/sh'],
          env,
          hostIdBase: base,
          memory: spec.resources.memory,
          cpu: spec.resources.cpu,
          ...(spec.resources.pids ? { pids: spec.resources.pids } : {}),
          cgroupsPath: this.#cgroup(id),
        },
        this.#o.layout,
      );
      writeFileAtomic(join(bundle, 'config.json'), JSON.stringify(config), 0o600);
      const record: ContainerRecord = {
        contract,
        name: w.name,
        specHash,
        image: spec.image.sha256,
        slot,
      };
      writeFileAtomic(file, JSON.stringify(record), 0o600);
      await this.#start(id, bundle);
    } catch (err) {
      await this.#crun.destroy(id).catch(() => {});
      rmSync(bundle, { recursive: true, force: true });
      this.#slots.release(slot, id);
      throw asVdcError(err);
    }
  }

  async #start(id: string, bundle: string): Promise<void> {
    const log = join(bundle, 'log');
    try {
      await this.#crun.create(id, bundle, log);
      await this.#crun.start(id);
    } catch (err) {
      const e = asVdcError(err);
      const tail = tailLog(log, 2000).trim();
      fail('CONTAINER_START_FAILED', `${e.message}${tail ? `: ${tail}` : ''}`);
    }
    this.#touch(id);
    this.#status.set(id, { state: 'ok', message: 'running' });
    this.#o.logger.log('info', 'container started', { container: id });
  }

  /** Stops the container but keeps its files, so a later apply resumes it (fences). */
  async stop(contract: number, name: string): Promise<void> {
    const id = this.#id(contract, name);
    await this.#working(id, async () => {
      await this.#crun.destroy(id);
      this.#status.set(id, { state: 'stopped', message: 'stopped by the node' });
    });
  }

  async remove(contract: number, name: string): Promise<void> {
    const id = this.#id(contract, name);
    const record = this.#record(id);
    await this.#crun.destroy(id);
    rmSync(join(this.#dir, id), { recursive: true, force: true });
    // after the files: a crash between the two leaves a claim, which prune() frees
    if (record) this.#slots.release(record.slot, id);
    this.#touch(id);
    this.#status.delete(id);
    // crun removes the container's cgroup; the node's own parent goes with its last container
    if (this.#records().length === 0) removeEmptyCgroup(this.#o.layout, `/vdc/${this.#o.nodeTag}`);
    this.#o.logger.log('info', 'container removed', { container: id });
  }

  status(contract: number, name: string): RuntimeStatus | undefined {
    return this.#status.get(this.#id(contract, name));
  }

  /**
   * Where a `gateway` workload forwards into (gateway-runtime.ts): the running container's
   * init pid (its network namespace) and the first host id of its range; undefined when
   * the container is not there or not running.
   */
  async netns(
    contract: number,
    name: string,
  ): Promise<{ pid: number; hostIdBase: number } | undefined> {
    const id = this.#id(contract, name);
    const record = this.#record(id);
    if (!record) return undefined;
    const { status, pid } = await this.#crun.state(id);
    if (status !== 'running' || pid <= 0) return undefined;
    return { pid, hostIdBase: (this.#o.uidBase ?? DEFAULT_UID_BASE) + record.slot * UID_RANGE };
  }

  logs(contract: number, name: string, maxBytes: number): string {
    return tailLog(join(this.#dir, this.#id(contract, name), 'log'), maxBytes);
  }

  /** One monitor pass: every container's state, OOM kills, log size. */
  poll(): Promise<void> {
    this.#polling ??= (async () => {
      const records = this.#records();
      if (records.length === 0) return;
      const began = this.#changes;
      const statuses = await this.#crun.statuses();
      for (const r of records) {
        const id = this.#id(r.contract, r.name);
        const before = this.#status.get(id);
        if (before?.state === 'stopped') continue;
        // started, stopped or removed while crun was listing: what it said is stale
        if (this.#busy.has(id) || (this.#changedAt.get(id) ?? 0) > began) continue;
        if (!existsSync(join(this.#dir, id, 'container.json'))) continue;
        const status = statuses.get(id) ?? 'absent';
        const kills = oomKills(this.#o.layout, this.#cgroup(id)) ?? 0;
        let next: RuntimeStatus;
        if (status === 'running' || status === 'created')
          next = kills
            ? { state: 'ok', message: `running; the OOM killer killed ${kills} process(es) in it` }
            : { state: 'ok', message: 'running' };
        else if (kills)
          next = {
            state: 'oom-killed',
            message: `killed by the OOM killer: it used more than its memory limit`,
          };
        else next = { state: 'exited', message: 'its process exited' };
        if (before?.state !== next.state)
          this.#o.logger.log(next.state === 'ok' ? 'info' : 'warn', `container ${next.state}`, {
            container: id,
          });
        this.#status.set(id, next);
        rotateLog(join(this.#dir, id, 'log'));
      }
    })()
      .catch((err: unknown) =>
        this.#o.logger.log('error', 'container monitor failed', { code: asVdcError(err).code }),
      )
      .finally(() => {
        this.#polling = undefined;
      });
    return this.#polling;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
