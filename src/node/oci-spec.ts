import type { CgroupLayout } from './cgroup-layout.ts';
import { seccompProfile } from './seccomp-profile.ts';

/*
 * The OCI runtime config (config.json) of one container workload. Everything that confines
 * it is here, in one place, so a review reads one function: a user namespace mapping the
 * container's uids 0..65535 onto a range of host uids no other container shares, its own
 * pid/net/ipc/uts/mount (and cgroup, on v2) namespaces, no new privileges, a short list of
 * capabilities (which, inside the user namespace, grant nothing on the host), the seccomp
 * filter, masked and read-only kernel paths, and cgroup limits on memory (no swap), CPU
 * and pids. The network namespace holds only loopback until the overlay (network
 * workload) plugs in.
 */

export const UID_RANGE = 65_536;
const CPU_PERIOD_US = 100_000;
const DEFAULT_PIDS = 1024;
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Namespaced capabilities a conventional image expects of its root (Docker's minimum, less raw sockets, mknod and audit). */
export const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
];

export interface ContainerConfig {
  hostname: string;
  args: string[];
  env: Record<string, string>;
  /** first host uid (and gid) of the container's range */
  hostIdBase: number;
  memory: number;
  /** millicores */
  cpu: number;
  pids?: number;
  cgroupsPath: string;
}

/** The config.json object for crun. */
export function ociSpec(c: ContainerConfig, layout: CgroupLayout): Record<string, unknown> {
  const namespaces = ['pid', 'network', 'ipc', 'uts', 'mount', 'user'];
  // A cgroup namespace on v1 would show the container other v1 hierarchies' paths; on v2
  // it hides the host's tree.
  if (layout.kind === 'v2') namespaces.push('cgroup');
  const mapping = [{ containerID: 0, hostID: c.hostIdBase, size: UID_RANGE }];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: c.args,
      env: [PATH, ...Object.entries(c.env).map(([k, v]) => `${k}=${v}`)],
      cwd: '/',
      capabilities: {
        bounding: CAPABILITIES,
        effective: CAPABILITIES,
        permitted: CAPABILITIES,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: c.hostname,
    mounts: [
      {
        destination: '/proc',
        type: 'proc',
        source: 'proc',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', 'size=65536k'],
      },
    ],
    linux: {
      uidMappings: mapping,
      gidMappings: mapping,
      namespaces: namespaces.map((type) => ({ type })),
      cgroupsPath: c.cgroupsPath,
      resources: {
        // swap = memory: the limit is the limit, not a hint to page out to a shared disk
        memory: { limit: c.memory, swap: c.memory },
        cpu: {
          quota: Math.max(1000, Math.round((c.cpu * CPU_PERIOD_US) / 1000)),
          period: CPU_PERIOD_US,
        },
        pids: { limit: c.pids ?? DEFAULT_PIDS },
      },
      seccomp: seccompProfile(),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
