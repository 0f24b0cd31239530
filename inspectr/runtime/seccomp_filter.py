"""The seccomp deny-list loaded just before execve: syscalls an untrusted probe has no business
making (namespace and mount changes, kernel modules, keyrings, BPF, ptrace of others, clock and
reboot changes) fail with EPERM. Uses Debian's python3-seccomp (libseccomp); PyPI's pyseccomp
offers the same API."""

from __future__ import annotations

import errno
import sys
from typing import Any

__all__ = ["DENIED", "load_module", "build_filter"]

DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "ptrace", "process_vm_readv", "process_vm_writev", "lookup_dcookie",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "clock_settime", "clock_adjtime", "settimeofday",
    "adjtimex", "stime", "iopl", "ioperm", "personality", "vhangup", "nfsservctl", "uselib", "create_module",
)


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


def build_filter(module: Any) -> Any:
    """A filter that allows everything but DENIED (skipping names this kernel lacks)."""
    f = module.SyscallFilter(defaction=module.ALLOW)
    for name in DENIED:
        try:
            f.add_rule(module.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            pass  # a syscall unknown to this architecture or libseccomp
    return f
