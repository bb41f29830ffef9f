import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chainLatency,
  parseTrace,
  percentileOf,
  type Wakeup,
} from '../../bench/support/sched-trace.ts';

// A chain as bench/gateway.ts sees it: wrk → gateway (10) → tunnel (20) → backend (30).
const chain = { clientComm: 'wrk', pids: [10, 20, 30] };
const comm = (pid: number) => (pid === 1 ? 'wrk' : 'MainThread');
const hop = (at: number, from: number, to: number): Wakeup => ({
  at,
  wakerPid: from,
  wakerComm: comm(from),
  wakeeTid: to,
  wakeeComm: comm(to),
});
/** one request: wrk is pid 1 (its thread's id differs, so only its command names it) */
const request = (t: number, legs: { gateway: number; tunnel: number; backend: number }) => [
  hop(t, 1, 10),
  hop(t + legs.gateway, 10, 20),
  hop(t + legs.gateway + legs.tunnel, 20, 30),
  hop(t + legs.gateway + legs.tunnel + legs.backend, 30, 20),
  hop(t + legs.gateway + 2 * legs.tunnel + legs.backend, 20, 10),
  hop(t + 2 * legs.gateway + 2 * legs.tunnel + legs.backend, 10, 1),
];
const legs = { gateway: 100, tunnel: 30, backend: 50 };
/** the backend's write of its answer, just before it wakes the tunnel */
const written = (t: number, l = legs) => t + l.gateway + l.tunnel + l.backend - 2;
const sorted = (w: Wakeup[]) => w.sort((a, b) => a.at - b.at);

test('each request: what the proxies added, the backend leg left out, split by proxy', () => {
  const stalled = { gateway: 120, tunnel: 40, backend: 4_000 };
  const wakeups = [...request(1_000, legs), ...request(5_000, stalled)];
  const r = chainLatency(
    { wakeups, backendWrites: [written(1_000), written(5_000, stalled)] },
    chain,
  );
  assert.equal(r.seen, 2);
  assert.equal(r.whole, 2);
  // a stall in the backend's leg is not the proxies'
  assert.deepEqual(r.added, [262, 322]);
  assert.deepEqual(r.perProxy, [
    [200, 240],
    [62, 82],
  ]);
  // without the backend's writes, its wake-up of the tunnel ends its leg
  assert.deepEqual(chainLatency({ wakeups, backendWrites: [] }, chain).added, [260, 320]);
});

test('a proxy still running when the answer came: the backend write ends the leg', () => {
  const wakeups = request(1_000, legs).filter((w) => !(w.wakerPid === 30 && w.wakeeTid === 20));
  const r = chainLatency({ wakeups, backendWrites: [written(1_000)] }, chain);
  assert.equal(r.whole, 1);
  assert.deepEqual(r.added, [262]);
  // nothing seen of the backend's answer: the request counts whole against the proxies
  assert.deepEqual(chainLatency({ wakeups, backendWrites: [] }, chain).added, [310]);
});

test('unrelated wake-ups are skipped; a request unseen counts as the slowest', () => {
  // the gateway was still running when the request came: nothing woke it
  const unseen = request(9_000, legs).slice(1);
  const noise: Wakeup[] = [
    hop(1_010, 10, 11), // the gateway wakes one of its own threads
    { ...hop(1_020, 99, 20), wakerComm: 'ksoftirqd/1' },
    hop(1_030, 10, 30), // not adjacent in the chain
  ];
  const wakeups = sorted([...request(1_000, legs), ...noise, ...unseen]);
  const r = chainLatency({ wakeups, backendWrites: [written(1_000), written(9_000)] }, chain);
  assert.equal(r.seen, 1);
  assert.deepEqual(r.added, [262]);
  assert.deepEqual(r.perProxy, [[200], [62]]);
  assert.equal(percentileOf(r.added, 2, 50), 262);
  assert.equal(percentileOf(r.added, 2, 99), Number.POSITIVE_INFINITY);
  assert.equal(percentileOf([3, 1, 2], 3, 99), 3);
});

test('a direct path has no proxy to measure', () => {
  const r = chainLatency(
    { wakeups: [hop(0, 1, 30), hop(50, 30, 1)], backendWrites: [48] },
    { clientComm: 'wrk', pids: [30] },
  );
  assert.equal(r.seen, 0);
  assert.deepEqual(r.perProxy, []);
});

test('perf script lines: wake-ups from the machine, writes from the backend', () => {
  const text = [
    '             wrk  7547/7549  61685.000929:  sched:sched_waking: comm=node pid=7459 prio=120 target_cpu=001',
    ' kworker/u8:8-wr   301/301   61685.001000:  sched:sched_waking: comm=MainThread pid=7471 prio=120 target_cpu=000',
    '      MainThread 7440/7440   61685.000990:  syscalls:sys_enter_writev: fd: 0x00000017, vec: 0x7ffc, vlen: 0x00000002',
    'not a trace line',
  ].join('\n');
  assert.deepEqual(parseTrace(text), {
    wakeups: [
      { at: 61685000929, wakerPid: 7547, wakerComm: 'wrk', wakeeTid: 7459, wakeeComm: 'node' },
      {
        at: 61685001000,
        wakerPid: 301,
        wakerComm: 'kworker/u8:8-wr',
        wakeeTid: 7471,
        wakeeComm: 'MainThread',
      },
    ],
    backendWrites: [61685000990],
  });
});
