import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ociSpec, UID_RANGE } from './oci-spec.ts';
import { DENIED_SYSCALLS } from './seccomp-profile.ts';

const config = {
  hostname: 'web',
  args: ['/bin/sh', '-c', 'true'],
  env: { GREETING: 'hi' },
  hostIdBase: 1_065_536,
  memory: 64 * 2 ** 20,
  cpu: 250,
  cgroupsPath: '/vdc/abc/c7-web',
};

type Spec = {
  process: { noNewPrivileges: boolean; env: string[]; capabilities: { bounding: string[] } };
  linux: {
    uidMappings: { containerID: number; hostID: number; size: number }[];
    namespaces: { type: string }[];
    resources: { memory: { limit: number; swap: number }; cpu: { quota: number; period: number } };
    seccomp: { defaultAction: string; syscalls: { names: string[]; action: string }[] };
  };
};

describe('OCI spec of a container workload', () => {
  test('confines the container: user namespace, no new privileges, seccomp, limits', () => {
    const s = ociSpec(config, { kind: 'v2', root: '/sys/fs/cgroup' }) as unknown as Spec;
    assert.equal(s.process.noNewPrivileges, true);
    assert.deepEqual(s.linux.uidMappings, [{ containerID: 0, hostID: 1_065_536, size: UID_RANGE }]);
    const ns = s.linux.namespaces.map((n) => n.type).sort();
    assert.deepEqual(ns, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    assert.deepEqual(s.linux.resources.memory, { limit: 64 * 2 ** 20, swap: 64 * 2 ** 20 });
    assert.deepEqual(s.linux.resources.cpu, { quota: 25_000, period: 100_000 });
    assert.ok(s.process.env.includes('GREETING=hi'));
    for (const cap of ['CAP_SYS_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_PTRACE', 'CAP_MKNOD'])
      assert.ok(!s.process.capabilities.bounding.includes(cap), cap);
    const denied = s.linux.seccomp.syscalls.find((r) => r.action === 'SCMP_ACT_ERRNO')!;
    for (const call of ['mount', 'unshare', 'setns', 'bpf', 'keyctl', 'ptrace', 'init_module'])
      assert.ok(denied.names.includes(call), call);
    assert.equal(denied.names.length, DENIED_SYSCALLS.length);
  });

  test('no cgroup namespace on v1 and hybrid hosts', () => {
    const s = ociSpec(config, {
      kind: 'hybrid',
      root: '/sys/fs/cgroup',
      unified: '/sys/fs/cgroup/unified',
    }) as unknown as Spec;
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'cgroup'));
    assert.ok(s.linux.namespaces.some((n) => n.type === 'user'));
  });
});
