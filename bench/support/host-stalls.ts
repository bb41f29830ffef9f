import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

/*
 * How often this machine stops a running program, and for how long: one busy loop per CPU
 * reads the monotonic clock and counts the gaps between reads (the guest's own interrupts
 * and kernel threads, and on a VM the host descheduling the guest). A request that is in
 * flight when one comes waits for it, so the rate of gaps of a millisecond or more sets a
 * floor under a p99 of a chain of processes, whoever wrote them.
 */

const run = promisify(execFile);

const PROBE = `
const end = performance.now() + Number(process.argv[1]);
const gaps = [];
let last = performance.now();
for (;;) {
  const now = performance.now();
  if (now - last >= 0.5) gaps.push(now - last);
  last = now;
  if (now > end) break;
}
console.log(JSON.stringify(gaps));
`;

export interface HostStalls {
  seconds: number;
  cpus: number;
  /** gaps per second, summed over the CPUs */
  'per s ≥0.5 ms': number;
  'per s ≥1 ms': number;
  'per s ≥2 ms': number;
  'longest ms': number;
}

/** Spins on every CPU for `seconds` (pinned with taskset), then counts the gaps. */
export async function measureHostStalls(seconds: number, execPath: string): Promise<HostStalls> {
  const cpus = availableParallelism();
  const perCpu = await Promise.all(
    Array.from({ length: cpus }, async (_, cpu) => {
      const { stdout } = await run('taskset', [
        '-c',
        String(cpu),
        execPath,
        '-e',
        PROBE,
        String(seconds * 1000),
      ]);
      return JSON.parse(stdout) as number[];
    }),
  );
  const gaps = perCpu.flat();
  const rate = (ms: number) => Math.round((gaps.filter((g) => g >= ms).length / seconds) * 10) / 10;
  return {
    seconds,
    cpus,
    'per s ≥0.5 ms': rate(0.5),
    'per s ≥1 ms': rate(1),
    'per s ≥2 ms': rate(2),
    'longest ms': Math.round(Math.max(0, ...gaps) * 100) / 100,
  };
}
