import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.ts';
import type { Logger } from '../core/log.ts';
import type { Hooks } from './hooks.ts';
import { type NamespaceMode, NamespaceStore } from './namespace-store.ts';
import type { ZdbSettings } from './settings.ts';

/*
 * Namespaces: each is a folder under --index and one under --data. Its settings live in
 * `zdb-namespace` (JSON) in its index folder, replaced atomically on change. `default`
 * always exists; its settings come from the command line only (--protect, --maxsize).
 */

export const DEFAULT_NAMESPACE = 'default';
export const NAMESPACE_MAX_LENGTH = 128;
const DESCRIPTOR = 'zdb-namespace';

export interface Namespace {
  name: string;
  store: NamespaceStore;
  password: string | undefined;
  public: boolean;
  worm: boolean;
  maxsize: number;
  locked: boolean;
  frozen: boolean;
}

interface Descriptor {
  password: string | null;
  public: boolean;
  worm: boolean;
  maxsize: number;
  locked: boolean;
}

export function validNamespaceName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name);
}

export class NamespaceRegistry {
  private readonly byName = new Map<string, Namespace>();
  private readonly settings: ZdbSettings;
  private readonly hooks: Hooks;
  private readonly log: Logger;

  constructor(settings: ZdbSettings, hooks: Hooks, log: Logger) {
    this.settings = settings;
    this.hooks = hooks;
    this.log = log;
    const names = existsSync(settings.indexPath)
      ? readdirSync(settings.indexPath, { withFileTypes: true })
          .filter((d) => d.isDirectory() && validNamespaceName(d.name))
          .map((d) => d.name)
      : [];
    if (!names.includes(DEFAULT_NAMESPACE)) names.unshift(DEFAULT_NAMESPACE);
    for (const name of names) this.open(name);
    const def = this.byName.get(DEFAULT_NAMESPACE)!;
    if (settings.protect) def.password = settings.adminPassword;
    def.maxsize = settings.maxsize;
  }

  private open(name: string): Namespace {
    const indexDir = join(this.settings.indexPath, name);
    const store = new NamespaceStore(
      indexDir,
      join(this.settings.dataPath, name),
      {
        jump: (kind, closed, opened) => this.hooks.run(kind, closed, opened),
        missingData: (path) => this.hooks.runWait('missing-data', path),
      },
      this.settings.mode,
    );
    let d: Descriptor = { password: null, public: true, worm: false, maxsize: 0, locked: false };
    const path = join(indexDir, DESCRIPTOR);
    if (existsSync(path)) {
      try {
        d = { ...d, ...(JSON.parse(readFileSync(path, 'utf8')) as Partial<Descriptor>) };
      } catch (err) {
        this.log.log('warn', 'namespace descriptor unreadable, using defaults', { name, err });
      }
    }
    const ns: Namespace = {
      name,
      store,
      password: d.password ?? undefined,
      public: d.public,
      worm: d.worm,
      maxsize: d.maxsize,
      locked: d.locked,
      frozen: false,
    };
    this.byName.set(name, ns);
    return ns;
  }

  get(name: string): Namespace | undefined {
    return this.byName.get(name);
  }

  get default(): Namespace {
    return this.byName.get(DEFAULT_NAMESPACE)!;
  }

  list(): Namespace[] {
    return [...this.byName.values()];
  }

  create(name: string, mode?: NamespaceMode): Namespace {
    const ns = this.open(name);
    if (mode && ns.store.fresh && ns.store.mode !== mode) ns.store.setMode(mode);
    this.commit(ns);
    this.hooks.run('namespace-created', name);
    return ns;
  }

  delete(ns: Namespace): void {
    this.byName.delete(ns.name);
    ns.store.destroy();
    this.hooks.run('namespace-deleted', ns.name);
  }

  /** Persists a namespace's settings (not for `default`, whose settings are flags). */
  commit(ns: Namespace): void {
    if (ns.name === DEFAULT_NAMESPACE) return;
    const d: Descriptor = {
      password: ns.password ?? null,
      public: ns.public,
      worm: ns.worm,
      maxsize: ns.maxsize,
      locked: ns.locked,
    };
    writeFileAtomic(join(ns.store.indexDir, DESCRIPTOR), JSON.stringify(d));
  }

  /** Writes every namespace's queued records; returns the namespaces whose write failed. */
  flushAll(sync: boolean): Namespace[] {
    const failed: Namespace[] = [];
    for (const ns of this.byName.values()) {
      if (!ns.store.dirty) continue;
      try {
        ns.store.flush();
        if (sync) ns.store.sync();
      } catch (err) {
        this.log.log('error', 'write failed, batch rolled back', { namespace: ns.name, err });
        failed.push(ns);
      }
    }
    return failed;
  }

  syncAll(): void {
    for (const ns of this.byName.values()) ns.store.sync();
  }

  close(): void {
    for (const ns of this.byName.values()) {
      try {
        ns.store.close();
      } catch (err) {
        this.log.log('error', 'closing namespace failed', { namespace: ns.name, err });
      }
    }
  }
}
