import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crunArgv, detectCgroupLayout } from './cgroup-layout.ts';

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V2 = `25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
26 22 0:24 / /proc rw - proc proc rw
`;
const V1 = `31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`;

describe('cgroup layout', () => {
  test('tells a pure v2 host, a hybrid host and a v1 host apart', () => {
    assert.deepEqual(detectCgroupLayout(V2), { kind: 'v2', root: '/sys/fs/cgroup' });
    assert.deepEqual(detectCgroupLayout(HYBRID), {
      kind: 'hybrid',
      root: '/sys/fs/cgroup',
      unified: '/sys/fs/cgroup/unified',
    });
    assert.deepEqual(detectCgroupLayout(V1), { kind: 'v1', root: '/sys/fs/cgroup' });
    assert.equal(detectCgroupLayout('26 22 0:24 / /proc rw - proc proc rw\n'), undefined);
  });

  test('on a hybrid host crun runs in a mount namespace without the cgroup2 mount', () => {
    const layout = detectCgroupLayout(HYBRID)!;
    const argv = crunArgv(layout, 'crun', ['state', 'c1-web']);
    assert.equal(argv[0], 'unshare');
    assert.ok(argv.includes('--mount'));
    assert.deepEqual(argv.slice(-4), ['/sys/fs/cgroup/unified', 'crun', 'state', 'c1-web']);
    assert.deepEqual(crunArgv(detectCgroupLayout(V2)!, 'crun', ['state', 'x']), [
      'crun',
      'state',
      'x',
    ]);
  });
});
