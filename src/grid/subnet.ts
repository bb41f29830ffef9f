import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../core/assert.ts';
import { hostIpv4Prefixes } from './netns.ts';
import { type RunRecord, recordPath, runsDir, writeRecord } from './run-record.ts';

/*
 * Each run gets its own IPv4 /24 in 10.128.0.0/10 for its bridge. Two runs at once (two
 * test files, a test and `vdc up`) must never share one, and neither may shadow a route the
 * machine already has. The candidates follow from the run id; a candidate is taken only if
 * no route or address of the host namespace overlaps it and its lock file — created with
 * O_EXCL, so exactly one run wins it — did not exist. The record names the subnet before
 * the lock is made, so a lock without a record is always a leftover.
 */

const BASE = (10 << 24) | (128 << 16); // 10.128.0.0
const SLOTS = 1 << 14; // /24s in a /10
const TRIES = 256;

function toInt(address: string): number {
  return address.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}

function toAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}

function overlaps(a: { start: number; end: number }, cidr: string): boolean {
  const [addr, len] = cidr.split('/') as [string, string];
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const start = (toInt(addr) & mask) >>> 0;
  const end = (start + 2 ** (32 - bits) - 1) >>> 0;
  return a.start <= end && start <= a.end;
}

function lockPath(subnetBase: string): string {
  return join(runsDir(), `subnet-${subnetBase}.lock`);
}

function tryLock(subnetBase: string, run: string): boolean {
  let fd: number;
  try {
    fd = openSync(lockPath(subnetBase), 'wx', 0o600);
  } catch {
    return false; // another run holds it
  }
  writeSync(fd, run);
  closeSync(fd);
  return true;
}

/** `10.a.b.0/24` → `10.a.b.N` */
export function hostInSubnet(subnet: string, n: number): string {
  return toAddress(toInt(subnet.split('/')[0]!) + n);
}

/** The slot of `10.a.b.0/24` in 10.128.0.0/10, or undefined for anything else. */
function slotOf(subnet: string | undefined): number | undefined {
  const m = subnet === undefined ? null : /^(10\.[0-9]{1,3}\.[0-9]{1,3}\.0)\/24$/.exec(subnet);
  if (!m) return undefined;
  const slot = (toInt(m[1]!) - BASE) / 256;
  return Number.isInteger(slot) && slot >= 0 && slot < SLOTS ? slot : undefined;
}

/**
 * Picks and locks a free /24 for `record`'s run, writing it into the record first.
 * `preferred` (a /24 of 10.128.0.0/10) is tried first: the local grid of `vdc up` asks
 * for the one it had, because its addresses are written on the ledger (the relay nodes
 * registered with, the gateway's tunnel address).
 * @throws VdcError GRID_NO_FREE_SUBNET
 */
export function pickSubnet(record: RunRecord, preferred?: string): string {
  const taken = hostIpv4Prefixes();
  const seed = Number.parseInt(record.run, 16);
  const first = slotOf(preferred);
  for (let i = 0; i < TRIES; i++) {
    // 4099 is prime: the tries spread over the whole /10
    const slot = i === 0 && first !== undefined ? first : (seed + i * 4099) % SLOTS;
    const start = (BASE + slot * 256) >>> 0;
    const range = { start, end: start + 255 };
    if (taken.some((cidr) => overlaps(range, cidr))) continue;
    const base = toAddress(start);
    record.subnet = `${base}/24`;
    writeRecord(record);
    if (tryLock(base, record.run)) return record.subnet;
  }
  record.subnet = null;
  writeRecord(record);
  fail(
    'GRID_NO_FREE_SUBNET',
    `no free /24 in 10.128.0.0/10 after ${TRIES} tries: too many grids run at once, or the host routes that range; tear some down ('ip netns list', ${runsDir()})`,
  );
}

/** Removes the subnet lock of `run`, if it holds it. */
export function releaseSubnet(subnet: string | null, run: string): void {
  if (!subnet) return;
  const path = lockPath(subnet.split('/')[0]!);
  try {
    if (readFileSync(path, 'utf8') === run) rmSync(path, { force: true });
  } catch {
    // No lock: nothing to release.
  }
}

/** Removes subnet locks whose run has no record any more (its run died between the two). */
export function sweepOrphanLocks(): void {
  for (const f of readdirSync(runsDir())) {
    if (!/^subnet-[0-9.]+\.lock$/.test(f)) continue;
    const path = join(runsDir(), f);
    let run: string;
    try {
      run = readFileSync(path, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    if (!/^[0-9a-f]{6}$/.test(run)) continue; // not ours to judge
    try {
      readFileSync(recordPath(run));
    } catch {
      rmSync(path, { force: true });
    }
  }
}
