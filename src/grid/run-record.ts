import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { parseJson } from '../core/strict-json.ts';

/*
 * The run record: what one harness run made on this machine, written BEFORE each object is
 * made (and the entry dropped again if making it failed), so that whatever state a run dies
 * in — a failed test, a crash, SIGKILL — the record lists everything it may have left.
 * Teardown and the sweeper of stale runs destroy only what a valid record lists, and only
 * names that carry the record's own prefix: objects of other programs on this shared
 * machine are never touched. Format in docs/grid.md.
 */

export const RECORD_VERSION = 1;
/** `vdcg` + 6 hex digits: short enough to leave room for suffixes in a 15-character link name. */
export const PREFIX_PATTERN = /^vdcg[0-9a-f]{6}$/;

export interface ProcessIdentity {
  pid: number;
  /** start time in clock ticks since boot (/proc/PID/stat field 22): with the pid, names one process for ever */
  startTicks: string;
}

export interface RecordedProcess extends ProcessIdentity {
  name: string;
  namespace: string;
}

export interface RunRecord {
  version: typeof RECORD_VERSION;
  run: string;
  prefix: string;
  /** the process whose run this is; null for a run kept past its creator (torn down explicitly) */
  owner: ProcessIdentity | null;
  createdAt: string;
  /** the /24 this run uses, `10.a.b.0/24`, once picked */
  subnet: string | null;
  /** links of the host namespace: the bridge and the host ends of veth pairs */
  links: string[];
  namespaces: string[];
  processes: RecordedProcess[];
  /** crun state roots of the run's nodes: containers outlive their agent (container-sweep.ts) */
  containerRoots: string[];
}

/**
 * Where run records and subnet locks live: beside /run/netns, where `ip` keeps the
 * namespaces they describe — one place for every process whatever its TMPDIR, so
 * concurrent runs always see each other's locks, and gone on reboot like the namespaces.
 */
export const RUNS_DIR = '/run/vdc-netns-runs';

export function runsDir(): string {
  const dir = RUNS_DIR;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export function recordPath(run: string): string {
  return join(runsDir(), `${run}.json`);
}

export function writeRecord(record: RunRecord): void {
  writeFileAtomic(recordPath(record.run), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

export function removeRecord(run: string): void {
  rmSync(recordPath(run), { force: true });
}

function isName(value: unknown, prefix: string, max: number): value is string {
  return typeof value === 'string' && value.startsWith(prefix) && value.length <= max;
}

/** Parses a record; undefined when it is not one this code wrote (then nothing of it is touched). */
export function parseRecord(text: string | Uint8Array, run: string): RunRecord | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parseJson(text) as Record<string, unknown>;
  } catch {
    return undefined; // unreadable: not ours to act on
  }
  if (typeof doc !== 'object' || doc === null || doc['version'] !== RECORD_VERSION)
    return undefined;
  const prefix = doc['prefix'];
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix) || doc['run'] !== run)
    return undefined;
  if (prefix !== `vdcg${run}`) return undefined;
  const links = doc['links'];
  const namespaces = doc['namespaces'];
  const processes = doc['processes'];
  if (!Array.isArray(links) || !links.every((l) => isName(l, prefix, 15))) return undefined;
  if (!Array.isArray(namespaces) || !namespaces.every((n) => isName(n, `${prefix}-`, 64)))
    return undefined;
  if (
    !Array.isArray(processes) ||
    !processes.every(
      (p) =>
        typeof p === 'object' &&
        p !== null &&
        Number.isSafeInteger(p.pid) &&
        p.pid > 1 &&
        typeof p.startTicks === 'string',
    )
  )
    return undefined;
  const roots = doc['containerRoots'] ?? [];
  if (!Array.isArray(roots) || !roots.every((r) => typeof r === 'string' && r.startsWith('/')))
    return undefined;
  doc['containerRoots'] = roots;
  const owner = doc['owner'] as ProcessIdentity | null;
  if (owner !== null && (typeof owner !== 'object' || !Number.isSafeInteger(owner.pid)))
    return undefined;
  return doc as unknown as RunRecord;
}

export function readRecord(run: string): RunRecord | undefined {
  let text: Buffer;
  try {
    text = readFileSync(recordPath(run));
  } catch {
    return undefined; // gone: torn down meanwhile
  }
  return parseRecord(text, run);
}

/** Ids of every run with a record on this machine. */
export function listRuns(): string[] {
  return readdirSync(runsDir())
    .map((f) => /^([0-9a-f]{6})\.json$/.exec(f)?.[1])
    .filter((r): r is string => r !== undefined);
}

function procStat(pid: number): { state: string; startTicks: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTicks: fields[19]! };
  } catch {
    return undefined; // gone
  }
}

/** The identity of a running process, or undefined when it is gone. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  const stat = procStat(pid);
  return stat ? { pid, startTicks: stat.startTicks } : undefined;
}

/**
 * Whether the recorded process still runs: same pid and same start time (a reused pid is
 * never taken for it), and not a zombie (an orphan that no one reaps has ended all the same).
 */
export function isAlive(p: ProcessIdentity): boolean {
  const stat = procStat(p.pid);
  return stat !== undefined && stat.startTicks === p.startTicks && stat.state !== 'Z';
}
