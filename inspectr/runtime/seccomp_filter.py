"""The seccomp profile loaded just before execve: Docker's default profile, rebuilt from its rules.

An allow-list: a syscall that no rule below allows fails with EPERM (moby's `defaultAction`
SCMP_ACT_ERRNO with `defaultErrnoRet` 1). Some syscalls are allowed only with certain arguments
(`personality`, `clone`, `socket`), and some only when the container holds a capability
(`chroot` with CAP_SYS_CHROOT, `mount`/`unshare`/`setns` with CAP_SYS_ADMIN, ...). Without
CAP_SYS_ADMIN, `clone3` fails with ENOSYS, so that glibc falls back to `clone`, whose flags the
filter can read (clone3's live in memory, out of a filter's reach).

Where this differs from moby's profile, and why:

- `personality` also accepts ADDR_NO_RANDOMIZE (0x0040000) and PER_LINUX32|ADDR_NO_RANDOMIZE
  (0x0040008), so `setarch -R` (and gdb's disable-randomization) works: issue 14 asks for it.
  The flag only turns off address randomisation for the caller and its children; the kernel
  clears it on a set-id exec, and no_new_privs is set anyway. The personas moby keeps out
  (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, the other execution domains) stay out.
- The capability-conditional rules read the capability set given to `build_filter` (the
  container's bounding = permitted = effective set); moby reads the bounding set, which in
  inspectr's runtime is the same set.
- Syscalls newer than every syscall in the profile, and known to libseccomp, fail with ENOSYS
  instead of EPERM, as runc's filter stub does for Docker: glibc falls back to an older syscall
  only on ENOSYS (fchmodat2, for one). runc's stub covers every higher number; libseccomp's
  Python binding can only name the syscalls it knows, so a syscall newer than libseccomp itself
  still gets EPERM.
- Architectures follow moby's arch map for the machine inspectr runs on: x86_64 also covers
  i386 and x32, aarch64 also covers 32-bit arm; any other machine gets its native arch only
  (moby adds sub-arches for mips and s390x too).

A name that libseccomp does not know is skipped, as runc does; a name it knows but that does not
exist on one of the filter's arches (chown32 on x86_64) is a no-op there. Uses Debian's
python3-seccomp (libseccomp); PyPI's pyseccomp offers the same API. Importing this module needs
neither.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .spec import DOCKER_DEFAULT_CAPS

__all__ = ["ArgTest", "Rule", "ALLOWED", "RULES", "PERSONALITIES", "CLONE_NAMESPACE_FLAGS", "AF_VSOCK",
           "NATIVE_ARCH_FAMILIES", "load_module", "build_filter", "unconditionally_allowed"]


@dataclass(frozen=True)
class ArgTest:
    """One argument test: `args[index] == value`, `!= value`, or `(args[index] & mask) == value`."""

    index: int
    op: Literal["eq", "ne", "masked_eq"]
    value: int
    mask: int = 0


@dataclass(frozen=True)
class Rule:
    """Allow `names` (or fail them with `errno`) when the conditions hold. `when` lists
    alternatives: the rule holds if every test of any one alternative holds (empty: always).
    `needs_caps`: all of these capabilities are held; `unless_caps`: none of them is.
    `arches`/`not_arches`: the machine's native arch (libseccomp's name) is / is not one of these.
    `min_kernel`: the running kernel is at least (major, minor)."""

    names: tuple[str, ...]
    errno: int | None = None
    when: tuple[tuple[ArgTest, ...], ...] = ()
    needs_caps: tuple[int, ...] = ()
    unless_caps: tuple[int, ...] = ()
    arches: tuple[str, ...] = ()
    not_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


# Capability numbers (linux/capability.h).
CAP_DAC_READ_SEARCH, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_CHROOT, CAP_SYS_PTRACE = 2, 16, 17, 18, 19
CAP_SYS_PACCT, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_NICE, CAP_SYS_TIME, CAP_SYS_TTY_CONFIG = 20, 21, 22, 23, 25, 26
CAP_SYSLOG, CAP_PERFMON, CAP_BPF = 34, 38, 39

AF_VSOCK = 40
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (linux/sched.h)
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, the 0xffffffff query (moby), and the two
# ADDR_NO_RANDOMIZE personas `setarch -R` sets (inspectr's addition, see the module docstring).
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF, 0x0040000, 0x0040008)

# --- The profile ------------------------------------------------------------------------------
# Source: moby's default seccomp profile, profiles/seccomp/default_linux.go and the default.json
# generated from it, as of moby commit 00f3d189e420d485e42d15fe494f96d272284e0e (a profile that
# allows futex_waitv, landlock_*, memfd_secret and process_mrelease, gives set_mempolicy_home_node
# to CAP_SYS_NICE and refuses AF_VSOCK sockets). Rewritten here as data; the numbers are the kernel's.


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Allowed to every container, whatever its capabilities (the kernel still checks them: adjtimex
# and clock_adjtime may read the clock but need CAP_SYS_TIME to set it).
ALLOWED = _words("""
    accept accept4 access adjtimex alarm bind brk
    capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64
    clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat
    dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
    eventfd eventfd2 execve execveat exit exit_group
    faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
    fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr
    fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv
    futimesat
    getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
    getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
    getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
    get_thread_area gettid gettimeofday getuid getuid32 getxattr
    inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
    io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
    io_uring_enter io_uring_register io_uring_setup ipc
    kill
    landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
    linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
    madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
    mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
    mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock
    munlockall munmap
    name_to_handle_at nanosleep newfstatat _newselect
    open openat openat2
    pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
    ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
    pwrite64 pwritev pwritev2
    read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
    remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo
    sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
    sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
    sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
    semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
    setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
    setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
    set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat
    shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
    socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs
    sysinfo
    tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64
    ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
    vfork vmsplice
    wait4 waitid waitpid write writev
""")

_NO_NAMESPACE_FLAGS = ArgTest(0, "masked_eq", 0, mask=CLONE_NAMESPACE_FLAGS)

# Rules with a condition: on arguments, capabilities, the machine's arch or the kernel version.
RULES = (
    # ptrace could bypass seccomp before Linux 4.8; later kernels re-check the filter after a tracer.
    Rule(_words("process_vm_readv process_vm_writev ptrace"), min_kernel=(4, 8)),
    Rule(("socket",), when=((ArgTest(0, "ne", AF_VSOCK),),)),  # vsock reaches the hypervisor
    Rule(("personality",), when=tuple((ArgTest(0, "eq", persona),) for persona in PERSONALITIES)),
    # Syscalls only some architectures have.
    Rule(_words("sync_file_range2 swapcontext"), arches=("ppc64le",)),
    Rule(_words("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"),
         arches=("arm", "aarch64")),
    Rule(("arch_prctl",), arches=("x86_64", "x32")),
    Rule(("modify_ldt",), arches=("x86_64", "x32", "x86")),
    Rule(_words("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"), arches=("s390", "s390x")),
    Rule(("riscv_flush_icache",), arches=("riscv64",)),
    # Capability-conditional groups: each syscall goes with the capability the kernel checks for it.
    Rule(("open_by_handle_at",), needs_caps=(CAP_DAC_READ_SEARCH,)),
    Rule(_words("""bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
                   mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
                   sethostname setns syslog umount umount2 unshare"""), needs_caps=(CAP_SYS_ADMIN,)),
    # Without CAP_SYS_ADMIN: clone only without namespace flags (s390 passes the flags second),
    # and clone3 "not implemented" so that glibc uses clone.
    Rule(("clone",), when=((_NO_NAMESPACE_FLAGS,),), unless_caps=(CAP_SYS_ADMIN,), not_arches=("s390", "s390x")),
    Rule(("clone",), when=((ArgTest(1, "masked_eq", 0, mask=CLONE_NAMESPACE_FLAGS),),), unless_caps=(CAP_SYS_ADMIN,),
         arches=("s390", "s390x")),
    Rule(("clone3",), errno=errno.ENOSYS, unless_caps=(CAP_SYS_ADMIN,)),
    Rule(("reboot",), needs_caps=(CAP_SYS_BOOT,)),
    Rule(("chroot",), needs_caps=(CAP_SYS_CHROOT,)),
    Rule(_words("delete_module init_module finit_module"), needs_caps=(CAP_SYS_MODULE,)),
    Rule(("acct",), needs_caps=(CAP_SYS_PACCT,)),
    Rule(_words("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"),
         needs_caps=(CAP_SYS_PTRACE,)),
    Rule(_words("iopl ioperm"), needs_caps=(CAP_SYS_RAWIO,)),
    Rule(_words("settimeofday stime clock_settime clock_settime64"), needs_caps=(CAP_SYS_TIME,)),
    Rule(("vhangup",), needs_caps=(CAP_SYS_TTY_CONFIG,)),
    Rule(_words("get_mempolicy mbind set_mempolicy set_mempolicy_home_node"), needs_caps=(CAP_SYS_NICE,)),
    Rule(("syslog",), needs_caps=(CAP_SYSLOG,)),
    Rule(("bpf",), needs_caps=(CAP_BPF,)),
    Rule(("perf_event_open",), needs_caps=(CAP_PERFMON,)),
)

# moby's arch map: the arches a filter covers when the machine's native arch is the key.
NATIVE_ARCH_FAMILIES = {"x86_64": ("x86_64", "x86", "x32"), "aarch64": ("aarch64", "arm")}
# --- end of the profile -------------------------------------------------------------------------

# libseccomp's arch names -> the binding's Arch attribute.
_ARCH_ATTRS = {"x86_64": "X86_64", "x86": "X86", "x32": "X32", "aarch64": "AARCH64", "arm": "ARM",
               "ppc64le": "PPC64LE", "s390": "S390", "s390x": "S390X", "riscv64": "RISCV64"}
_OPS = {"eq": "EQ", "ne": "NE", "masked_eq": "MASKED_EQ"}


def load_module() -> Any:
    """The seccomp module, or a clear error that says which package to install."""
    try:
        import seccomp
        return seccomp
    except ImportError:
        pass
    for extra in ("/usr/lib/python3/dist-packages",):  # Debian's build targets this same 3.11 ABI
        if extra not in sys.path:
            sys.path.append(extra)
    try:
        import seccomp
        return seccomp
    except ImportError:
        try:
            import pyseccomp as seccomp
            return seccomp
        except ImportError:
            raise RuntimeError("seccomp is not available: install Debian's python3-seccomp "
                               "(apt-get install python3-seccomp) or PyPI's pyseccomp") from None


def _kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _native_arch(module: Any) -> str:
    native = int(module.system_arch()) & 0xFFFFFFFF
    for name, attr in _ARCH_ATTRS.items():
        if int(getattr(module.Arch, attr)) & 0xFFFFFFFF == native:
            return name
    return "native"  # a machine the table has no arch-specific rules for


def _applies(rule: Rule, capabilities: frozenset[int], arch: str, kernel: tuple[int, int]) -> bool:
    """moby's includes/excludes: every needed capability held, no excluding one held, the arch listed."""
    return (all(cap in capabilities for cap in rule.needs_caps)
            and not any(cap in capabilities for cap in rule.unless_caps)
            and (not rule.arches or arch in rule.arches) and arch not in rule.not_arches
            and (rule.min_kernel is None or kernel >= rule.min_kernel))


def unconditionally_allowed(capabilities: tuple[int, ...] = DOCKER_DEFAULT_CAPS, *, arch: str = "x86_64",
                            kernel: tuple[int, int] = (6, 1)) -> frozenset[str]:
    """The syscalls the profile allows whatever their arguments, for a container holding
    `capabilities` on a machine of `arch` running `kernel`. Pure: needs no libseccomp."""
    caps = frozenset(capabilities)
    names = set(ALLOWED)
    for rule in RULES:
        if rule.errno is None and not rule.when and _applies(rule, caps, arch, kernel):
            names.update(rule.names)
    return frozenset(names)


def build_filter(module: Any, capabilities: tuple[int, ...] = DOCKER_DEFAULT_CAPS, *,
                 arch: str | None = None) -> Any:
    """Docker's default profile as a libseccomp filter (not loaded) for a container holding
    `capabilities` (capability numbers; until every caller passes them, Docker's default set).
    `arch` is libseccomp's name of the machine's arch (default: this machine's); the filter also
    covers that arch's companions (i386 and x32 for x86_64). Names this libseccomp does not know
    are skipped. Raises RuntimeError when libseccomp refuses the arch."""
    native = arch or _native_arch(module)
    caps = frozenset(capabilities)
    kernel = _kernel_version()
    f = module.SyscallFilter(defaction=module.ERRNO(errno.EPERM))
    try:
        family = NATIVE_ARCH_FAMILIES.get(native, (native,)) if native in _ARCH_ATTRS else ()
        tokens = [getattr(module.Arch, _ARCH_ATTRS[name]) for name in family]
        if tokens and not f.exist_arch(tokens[0]):  # building for another machine (export, tests)
            f.add_arch(tokens[0])
            f.remove_arch(module.Arch.NATIVE)
        for token in tokens[1:]:
            if not f.exist_arch(token):
                f.add_arch(token)
    except (OSError, ValueError, RuntimeError) as err:
        raise RuntimeError(f"seccomp: cannot build a filter for arch {native!r}: {err}") from None
    added: set[tuple[str, int | None, tuple[ArgTest, ...]]] = set()

    def add(name: str, errno_: int | None, tests: tuple[ArgTest, ...]) -> None:
        if (name, errno_, tests) in added or (name, None, ()) in added:
            return  # already allowed outright
        action = module.ALLOW if errno_ is None else module.ERRNO(errno_)
        # libseccomp's MASKED_EQ takes the mask first, then the value the masked argument must equal
        args = [module.Arg(t.index, getattr(module, _OPS[t.op]),
                           *((t.mask, t.value) if t.op == "masked_eq" else (t.value,))) for t in tests]
        try:
            f.add_rule(action, name, *args)
        except (RuntimeError, ValueError, OSError):
            return  # a syscall unknown to this libseccomp
        added.add((name, errno_, tests))

    for name in ALLOWED:
        add(name, None, ())
    # Outright allows first, so that an argument rule for a syscall already allowed is left out.
    for rule in sorted(RULES, key=lambda r: bool(r.when)):
        if _applies(rule, caps, native, kernel):
            for name in rule.names:
                for alternative in rule.when or ((),):
                    add(name, rule.errno, alternative)
    _newer_syscalls_enosys(module, native, {*ALLOWED, *(name for rule in RULES for name in rule.names)}, add)
    return f


def _newer_syscalls_enosys(module: Any, native: str, named: set[str],
                           add: Callable[[str, int | None, tuple[ArgTest, ...]], None]) -> None:
    """runc's rule for Docker: a syscall numbered above every syscall the profile names fails
    with ENOSYS (so that libc falls back), not EPERM. Only syscalls libseccomp can name. (runc
    counts only the rules that applied; here every rule counts, so a syscall the profile knows,
    such as set_mempolicy_home_node without CAP_SYS_NICE, stays EPERM.)"""
    token = getattr(module.Arch, _ARCH_ATTRS[native]) if native in _ARCH_ATTRS else module.Arch.NATIVE
    highest = -1
    for name in named:
        try:
            highest = max(highest, int(module.resolve_syscall(token, name)))
        except (RuntimeError, ValueError, OSError):
            continue
    for number in range(highest + 1, 1024):
        try:
            name = module.resolve_syscall(token, number)
        except (RuntimeError, ValueError, OSError):
            continue
        add(name.decode() if isinstance(name, bytes) else str(name), errno.ENOSYS, ())
