"""The only module that makes namespace, mount and capability syscalls (DESIGN.md decision 8).

Python 3.11 has no os.unshare, so libc is called through ctypes. Syscall numbers are for
x86_64 and aarch64 (the two architectures this project builds for)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = [
    "setns", "CLONE_NEWNS", "CLONE_NEWUSER", "CLONE_NEWTIME", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_NEWCGROUP",
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_BIND", "MS_REC", "MS_PRIVATE", "MS_SLAVE", "MS_REMOUNT",
    "MS_STRICTATIME",
    "MNT_DETACH", "unshare", "mount", "umount2", "pivot_root", "sethostname", "prctl", "drop_bounding_set",
    "set_no_new_privs", "set_pdeathsig", "capset", "close_range_cloexec", "disable_aslr", "set_keepcaps",
    "raise_ambient", "set_rlimits", "set_personality", "set_io_priority",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
CLONE_NEWUSER = 0x10000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_PRIVATE, MS_SLAVE = 1 << 18, 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL = 47, 2, 4
PR_SET_KEEPCAPS = 8

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126, "close_range": 436, "ioprio_set": 251},
    "aarch64": {"pivot_root": 41, "capset": 91, "close_range": 436, "ioprio_set": 30},
}

LAST_CAP = 40

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _nr(name: str) -> int:
    table = _SYSCALLS.get(platform.machine())
    if table is None:
        raise OSError(38, f"inspectr's runtime does not know the syscall numbers of {platform.machine()}")
    return table[name]


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_nr("pivot_root"), new_root.encode(), put_old.encode()), "pivot_root")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def drop_bounding_set(keep: tuple[int, ...]) -> None:
    """Remove every capability not in `keep` from the bounding set, and clear ambient ones."""
    for cap in range(LAST_CAP + 1):
        if cap not in keep:
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError as err:
                if err.errno != 22:  # EINVAL: a capability this kernel does not have
                    raise
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def capset(effective: tuple[int, ...], permitted: tuple[int, ...] | None = None,
           inheritable: tuple[int, ...] = ()) -> None:
    """Set the effective, permitted (default: the effective set) and inheritable sets
    (capability version 3)."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    for field, caps in (("effective", effective), ("permitted", effective if permitted is None else permitted),
                        ("inheritable", inheritable)):
        for cap in caps:
            slot = data[cap // 32]
            setattr(slot, field, getattr(slot, field) | 1 << (cap % 32))
    _check(_libc.syscall(_nr("capset"), ctypes.byref(header), ctypes.byref(data)), "capset")


def set_keepcaps() -> None:
    """Keep the permitted set across the switch to a non-zero uid (for a user given capabilities)."""
    prctl(PR_SET_KEEPCAPS, 1)


def raise_ambient(caps: tuple[int, ...]) -> None:
    """Raise each capability into the ambient set (it must be permitted and inheritable)."""
    for cap in caps:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def set_rlimits(limits: tuple[tuple[int, int, int], ...]) -> None:
    """(resource, soft, hard) each; -1 is unlimited. Raising a hard limit needs CAP_SYS_RESOURCE in
    the initial user namespace, so this runs before the container's user namespace is entered."""
    import resource

    for which, soft, hard in limits:
        resource.setrlimit(which, (resource.RLIM_INFINITY if soft < 0 else soft,
                                   resource.RLIM_INFINITY if hard < 0 else hard))


def set_personality(persona: int) -> None:
    """personality(2) for the process and what it execs (an OCI config's linux.personality)."""
    _libc.personality.argtypes = [ctypes.c_ulong]
    if _libc.personality(persona) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"personality: {os.strerror(err)}")


def close_range_cloexec(first: int) -> None:
    """Mark every fd from `first` up close-on-exec (CLOSE_RANGE_CLOEXEC), so nothing leaks."""
    _check(_libc.syscall(_nr("close_range"), ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(4)),
           "close_range")


ADDR_NO_RANDOMIZE = 0x0040000


def disable_aslr() -> None:
    """personality(ADDR_NO_RANDOMIZE): identical address-space layout run after run."""
    _libc.personality.argtypes = [ctypes.c_ulong]
    current = _libc.personality(0xFFFFFFFF)
    if current == -1 or _libc.personality(current | ADDR_NO_RANDOMIZE) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"personality: {os.strerror(err)}")


def set_io_priority(io_class: int, level: int) -> None:
    """ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)."""
    _check(_libc.syscall(_nr("ioprio_set"), ctypes.c_int(1), ctypes.c_int(0), ctypes.c_int(io_class << 13 | level)),
           "ioprio_set")
