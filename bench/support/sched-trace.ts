import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchRow } from './bench-report.ts';

/*
 * What a chain of proxies adds to each request, read from the kernel's scheduler rather
 * than from the client's clock: on a paced connection every hop of a request wakes the
 * next process (client → proxy → … → backend and back), and `perf` records each wake-up
 * with who woke whom: sched:sched_waking, which fires in the waker (sched_wakeup fires
 * where the woken task is queued: for a wake-up across CPUs often in the target's idle
 * task, which then looks like the waker). Per request, the time from the client waking
 * the first proxy to that proxy waking the client, minus the backend's leg (from the last
 * proxy waking the backend to the backend's write of its answer, traced as a syscall: a
 * proxy still running when the answer comes is not woken), is what the proxies and their
 * hops added — the client's own hop to the first proxy included, so it errs high.
 *
 * Why: on this VM the whole guest stops now and then for milliseconds (seen as both vCPUs
 * "running" one task for 3–6 ms at once), and a request in flight then waits too. The
 * client's p99 minus the direct path's p99 then counts the stalls that hit the backend's
 * leg of a longer request as the proxy's; this reading does not, and it splits the rest
 * by process.
 */

export interface Wakeup {
  /** µs, the trace's clock */
  at: number;
  /** the waking task's process id and command */
  wakerPid: number;
  wakerComm: string;
  /** the woken task's thread id (a process's main thread has its process id) and command */
  wakeeTid: number;
  wakeeComm: string;
}

const WAKING =
  /^\s*(.+?)\s+(\d+)\/(\d+)\s+(\d+)\.(\d{6}):\s+(?:sched:sched_wak\w+:\s+)?comm=(.+?) pid=(\d+) prio=-?\d+ target_cpu=\d+\s*$/;
const WRITE = /^\s*.+?\s+\d+\/\d+\s+(\d+)\.(\d{6}):\s+syscalls:sys_enter_write/;

export interface SchedTrace {
  wakeups: Wakeup[];
  /** when the backend began each write (µs, the same clock), in order */
  backendWrites: number[];
}

/**
 * `perf script -F comm,pid,tid,time,event,trace` lines: sched:sched_waking (or _wakeup)
 * from the whole machine, syscalls:sys_enter_write(v) from the backend.
 */
export function parseTrace(text: string): SchedTrace {
  const trace: SchedTrace = { wakeups: [], backendWrites: [] };
  for (const line of text.split('\n')) {
    const w = WRITE.exec(line);
    if (w) {
      trace.backendWrites.push(Number(w[1]) * 1e6 + Number(w[2]));
      continue;
    }
    const m = WAKING.exec(line);
    if (!m) continue;
    trace.wakeups.push({
      at: Number(m[4]) * 1e6 + Number(m[5]),
      wakerPid: Number(m[2]),
      wakerComm: m[1]!,
      wakeeTid: Number(m[7]),
      wakeeComm: m[6]!,
    });
  }
  trace.wakeups.sort((a, b) => a.at - b.at);
  trace.backendWrites.sort((a, b) => a - b);
  return trace;
}

/**
 * A chain: the client, known by its command (wrk's threads are not its main thread), then
 * the proxies' and the backend's process ids in the order a request passes them.
 */
export interface Chain {
  clientComm: string;
  pids: number[];
}

export interface ChainLatency {
  /** requests seen from the client's wake-up of the first proxy to that proxy's of the client */
  seen: number;
  /** of those, the ones whose every hop was seen */
  whole: number;
  /**
   * what the proxies added to each request seen, µs: where the backend's leg was not seen
   * (a process still running when a hop reached it is not woken), the whole request
   */
  added: number[];
  /** per proxy (in chain order): its share of each request seen whole, µs */
  perProxy: number[][];
}

type Hop = { from: number; to: number; at: number };

/**
 * Splits a paced run's trace into requests and measures each. A request not seen at all
 * (its first proxy was still running when it came) is not in `added`: `percentileOf`
 * counts it as the slowest.
 */
export function chainLatency(trace: SchedTrace, chain: Chain): ChainLatency {
  const n = chain.pids.length + 1; // positions: 0 the client, 1… proxies, n-1 the backend
  const position = (pid: number, comm: string) =>
    comm === chain.clientComm ? 0 : chain.pids.indexOf(pid) + 1 || -1;
  const result: ChainLatency = {
    seen: 0,
    whole: 0,
    added: [],
    perProxy: chain.pids.slice(0, -1).map(() => []),
  };
  if (n < 3) return result;
  let open: Hop[] | undefined;
  for (const w of trace.wakeups) {
    const from = position(w.wakerPid, w.wakerComm);
    const to = position(w.wakeeTid, w.wakeeComm);
    if (from < 0 || to < 0 || Math.abs(from - to) !== 1) continue;
    if (from === 0) open = [];
    if (!open) continue;
    open.push({ from, to, at: w.at });
    if (from === 1 && to === 0) {
      measure(open, n, trace.backendWrites, result);
      open = undefined;
    }
  }
  return result;
}

/** When the first hop from `from` to `to` at or after `t` was, if there is one. */
function hopAt(hops: Hop[], from: number, to: number, t: number): number | undefined {
  return hops.find((h) => h.from === from && h.to === to && h.at >= t)?.at;
}

/** The first of the sorted `times` in [from, to]. */
function firstBetween(times: number[], from: number, to: number): number | undefined {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < times.length && times[lo]! <= to ? times[lo] : undefined;
}

/** One request's hops, from the client's wake-up of the first proxy to its answer. */
function measure(hops: Hop[], n: number, writes: number[], r: ChainLatency): void {
  const start = hops[0]!.at;
  const end = hops.at(-1)!.at;
  r.seen++;
  // forward[i]: when position i was first woken on the way in; back[i]: on the way out,
  // back[n-2] being when the backend answered (its write, or its wake-up of the last proxy)
  const forward: (number | undefined)[] = [undefined, start];
  for (let i = 2; i < n; i++) forward[i] = hopAt(hops, i - 1, i, forward[i - 1] ?? start);
  const asked = forward[n - 1];
  const answered =
    asked === undefined
      ? undefined
      : (firstBetween(writes, asked, end) ?? hopAt(hops, n - 1, n - 2, asked));
  // a request whose backend leg was not seen counts whole: the error goes against the proxies
  r.added.push(end - start - (answered === undefined ? 0 : answered - asked!));
  if (answered === undefined || forward.slice(1).includes(undefined)) return;
  const back: number[] = [];
  back[n - 2] = answered;
  for (let i = n - 3; i >= 0; i--) {
    const at = hopAt(hops, i + 1, i, back[i + 1]!);
    if (at === undefined) return;
    back[i] = at;
  }
  r.whole++;
  for (let i = 1; i < n - 1; i++)
    r.perProxy[i - 1]!.push(forward[i + 1]! - forward[i]! + (back[i - 1]! - back[i]!));
}

/**
 * The q-th percentile (0–100) of `values` among `total` requests, the ones not in
 * `values` counted as the slowest: Infinity when they reach it.
 */
export function percentileOf(values: readonly number[], total: number, q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((Math.max(total, sorted.length) * q) / 100));
  return rank <= sorted.length ? sorted[rank - 1]! : Number.POSITIVE_INFINITY;
}

/**
 * A paced row read from the scheduler: percentiles of what the proxies added to each
 * request, the requests not seen counted as the slowest, and each proxy's share.
 */
export function chainRow(
  name: string,
  requests: number,
  trace: SchedTrace,
  pids: number[],
): BenchRow {
  const c = chainLatency(trace, { clientComm: 'wrk', pids });
  const ms = (us: number) => (Number.isFinite(us) ? Math.round(us) / 1000 : '-');
  const at = (q: number) => ms(percentileOf(c.added, requests, q));
  const split = (q: number) => c.perProxy.map((v) => ms(percentileOf(v, v.length, q))).join(' + ');
  return {
    path: name,
    seen: `${c.seen} of ${requests}`,
    whole: c.whole,
    'p50 ms': at(50),
    'p90 ms': at(90),
    'p99 ms': at(99),
    'p99.9 ms': at(99.9),
    'p50 by proxy': split(50),
    'p99 by proxy': split(99),
  };
}

const run = promisify(execFile);

/**
 * Records every wake-up on the machine and the backend's writes until stopped (needs root
 * and Debian's linux-perf).
 */
export async function traceChain(
  dir: string,
  backendPid: number,
): Promise<{ stop(): Promise<SchedTrace> }> {
  const record = (name: string, args: string[]) => {
    const file = join(dir, `${name}.perf`);
    const child = spawn('perf', ['record', '-q', ...args, '-o', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return { file, child };
  };
  const perfs = [
    record('wakeups', ['-e', 'sched:sched_waking', '-a']),
    record('writes', [
      '-e',
      'syscalls:sys_enter_write',
      '-e',
      'syscalls:sys_enter_writev',
      '-p',
      String(backendPid),
    ]),
  ];
  // A perf left recording the whole machine would weigh on whatever runs next: it goes
  // with the bench, however the bench ends.
  const kill = () => {
    for (const { child } of perfs) child.kill('SIGINT');
  };
  process.once('exit', kill);
  // perf opens its buffers before it records: give it that time, or the first requests go unseen
  await new Promise((r) => setTimeout(r, 300));
  return {
    async stop() {
      process.off('exit', kill);
      let text = '';
      for (const { file, child } of perfs) {
        child.kill('SIGINT');
        if (child.exitCode === null) await once(child, 'exit');
        const { stdout } = await run(
          'perf',
          ['script', '-i', file, '-F', 'comm,pid,tid,time,event,trace'],
          { maxBuffer: 1 << 30 },
        );
        text += stdout;
      }
      return parseTrace(text);
    },
  };
}
