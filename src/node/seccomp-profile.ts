/*
 * The seccomp filter every container runs under (OCI `linux.seccomp`). It is a deny list
 * over the syscalls that reach the kernel's least-namespaced, most-exploited surfaces:
 * module and kexec loading, mounts and the new mount API, namespace creation inside the
 * container (user namespaces above all: they hand an unprivileged process the kernel's
 * CAP_SYS_ADMIN-only code), BPF, perf, userfaultfd (a favourite for winning kernel races),
 * the kernel keyring (not namespaced), ptrace and cross-process memory access, clock and
 * swap control. Each answers EPERM, as a kernel without the feature would, so programs
 * take their fallback path instead of dying.
 *
 * Why a deny list and not Docker's allow list: an allow list must track every syscall of
 * every architecture and libc release, and an image that uses a new one fails in ways its
 * owner cannot diagnose from outside a node with no shell. The container already has no
 * host capabilities (user namespace), no new privileges, and its own namespaces; this list
 * closes what those leave open. docs/node-containers.md lists it with the reasons.
 */

export const DENIED_SYSCALLS = [
  // kernel code and the machine itself
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'quotactl',
  'syslog',
  // filesystems and mounts (the container's mounts are made for it by crun)
  'mount',
  'umount2',
  'pivot_root',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'open_by_handle_at',
  'name_to_handle_at',
  // namespaces: entering or making new ones
  'unshare',
  'setns',
  // kernel subsystems with a history of privilege escalations
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'add_key',
  'request_key',
  'keyctl',
  'lookup_dcookie',
  // other processes' memory
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  // the host's clock
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
] as const;

const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const NAMESPACE_FLAGS = [
  CLONE_NEWNS,
  CLONE_NEWCGROUP,
  CLONE_NEWUTS,
  CLONE_NEWIPC,
  CLONE_NEWUSER,
  CLONE_NEWPID,
  CLONE_NEWNET,
];

const EPERM = 1;
const ENOSYS = 38;

/** The OCI `linux.seccomp` object. */
export function seccompProfile(): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: [
      { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // clone(2) making a namespace is refused by its flags; clone3 passes its flags in
      // memory that seccomp cannot read, so it answers ENOSYS and libc falls back to clone.
      ...NAMESPACE_FLAGS.map((flag) => ({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}
