"""An OCI runtime-spec config.json (`run --oci-config`, `behave --oci-config`), read into the one
typed value a run applies: `OciConfig`.

The rule (issue 14): every field of the config is either applied or refused by name (UsageError,
exit 2, one line naming the file and the field), never silently ignored. The runtime-spec lets
runtimes skip fields they do not know; inspectr refuses them instead, at any depth, so a config
never runs looser than its author meant. docs/formats/oci-config.md lists every field of
runtime-spec 1.0-1.2 (config.md, config-linux.md) with what inspectr does with it.

Only the `process`, `root.readonly`, `hostname`, `domainname`, `mounts` and `linux` parts are
applied. The image is the root filesystem, so `root.path` (a bundle directory) means nothing
here: it is read, checked to be a string and otherwise not used, whatever it says. `annotations`
are metadata for other tools and are likewise checked and not used. Everything else that a run
cannot honour (hooks, a terminal, joining existing namespaces, AppArmor and SELinux, seccomp
notification, the host's network) is refused.

This module makes no syscall. `parse_oci_config` only stats the source of each bind mount (it must
exist) and asks `resource` for rlimit numbers. `seccomp_filter_from` builds (but does not load) a
libseccomp filter.
"""

from __future__ import annotations

import errno as errno_codes
import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..errors import UsageError
from ..untrusted.jsonload import parse_strict_json
from ..untrusted.passwd import MAX_ID
from ..userfiles import read_user_file
from .rootfs import USERNS_SIZE

__all__ = [
    "OCI_CONFIG_MAX_BYTES", "CAPABILITIES", "RLIMITS", "SECCOMP_ACTIONS", "SECCOMP_OPERATORS",
    "SECCOMP_ARCHITECTURES", "SECCOMP_FLAGS", "NAMESPACED_SYSCTLS",
    "OciUser", "OciCapabilities", "OciRlimit", "OciScheduler", "OciIoPriority", "OciCpuAffinity", "OciProcess",
    "OciMount", "OciDevice", "OciDeviceRule", "OciResources", "OciSyscallArg", "OciSyscallRule", "OciSeccomp",
    "OciTimeOffset", "OciLinux", "OciConfig",
    "load_oci_config", "parse_oci_config", "seccomp_filter_from", "unknown_syscalls",
]

# A config.json is a few KB; a generous seccomp profile (Docker's) is about 25 KB. The cap bounds
# memory and parse time for a file that is not what it claims to be.
OCI_CONFIG_MAX_BYTES = 1 << 20
# Building a libseccomp filter costs time per name; Docker's profile names about 400 syscalls.
_MAX_SECCOMP_NAMES = 8192
_MAX_CPU = 8192  # the kernel's largest NR_CPUS; bounds the set "0-4294967295" would expand to
_MAX_TEXT = 4096  # PATH_MAX: any single string of the config
_VERSION = re.compile(r"1\.[012]\.[0-9]+(-[0-9A-Za-z.+-]+)?")
_SYSCALL_NAME = re.compile(r"[a-z0-9_]{1,64}")
_SYSCTL_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")
_CPU_LIST = re.compile(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")
_DATA_VALUE = re.compile(r"[A-Za-z0-9%:+_.-]{1,64}")  # no ',' or '=': the data string is joined with them

# linux/capability.h, 0..40 (CAP_LAST_CAP on Linux 5.9 and later).
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # the index of a name is its number
_CAP_MKNOD = 27
# The runtime-spec's rlimit names; numbers come from `resource` (asm-generic numbering on x86,
# arm64, riscv, ppc and s390; mips, sparc and alpha differ, which `resource` knows).
RLIMITS: tuple[str, ...] = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
    "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)
_U64 = (1 << 64) - 1  # RLIM_INFINITY, and the range of a seccomp argument
_NAMESPACES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mount", "cgroup": "cgroup",
               "time": "time", "user": "user"}  # runtime-spec name -> ContainerSpec.namespaces name
# Sharing one of these with the host would hand the image's code the host's processes, mounts,
# network, IPC objects or hostname: a config that leaves one out is refused, never run.
_REQUIRED_NAMESPACES = (("pid", "the host's processes"), ("mount", "the host's mounts"),
                        ("network", "the host network"), ("ipc", "the host's IPC objects"),
                        ("uts", "the host's hostname"))
# runc's list (libcontainer/configs/validate): sysctls that belong to a namespace the container
# has. The rest are the host's (vm.*, kernel.* at large) and a container must not set them.
NAMESPACED_SYSCTLS: tuple[str, ...] = (
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.msg_next_id", "kernel.sem_next_id", "kernel.shm_next_id",
    "kernel.domainname",
)
_NAMESPACED_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")  # the IPC and network namespaces

SECCOMP_ACTIONS: tuple[str, ...] = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG")
_ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")  # the actions errnoRet applies to (default EPERM)
SECCOMP_OPERATORS: tuple[str, ...] = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                                      "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_ARCHITECTURES: tuple[str, ...] = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)
# seccomp(2) filter flags and the libseccomp attribute that sets each.
SECCOMP_FLAGS: tuple[str, ...] = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
_FLAG_ATTRS = {"SECCOMP_FILTER_FLAG_TSYNC": "CTL_TSYNC", "SECCOMP_FILTER_FLAG_LOG": "CTL_LOG",
               "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "CTL_SSB"}

# Mount options (mount(8), runtime-spec config.md "mounts"): the MS_* flags an option sets or
# clears, by name; ContainerSpec's runtime maps the names to MS_* bits.
_SET_FLAGS = ("ro", "nosuid", "nodev", "noexec", "sync", "dirsync", "noatime", "nodiratime", "relatime",
              "strictatime", "lazytime", "nosymfollow")
_CLEAR_FLAGS = {"rw": "ro", "suid": "nosuid", "dev": "nodev", "exec": "noexec", "async": "sync", "atime": "noatime",
                "diratime": "nodiratime", "norelatime": "relatime", "nostrictatime": "strictatime",
                "nolazytime": "lazytime", "symfollow": "nosymfollow"}
_REFUSED_OPTIONS = {
    "remount": "a config mount is always a new mount",
    "mand": "mandatory locks are gone from Linux",
    "shared": "the container's mounts never propagate to the host",
    "rshared": "the container's mounts never propagate to the host",
    "slave": "inspectr's mount namespace is private: host mounts do not propagate in",
    "rslave": "inspectr's mount namespace is private: host mounts do not propagate in",
    "unbindable": "not supported",
    "runbindable": "not supported",
    "idmap": "idmapped mounts are not supported",
    "ridmap": "idmapped mounts are not supported",
    "tmpcopyup": "runc's tmpcopyup extension is not supported",
}
_RECURSIVE_ATTRS = ("rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime",
                    "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime",
                    "rnosymfollow", "rsymfollow")
# Filesystem data options allowed per mount type: key -> takes a value. Anything else is refused
# rather than passed to the kernel unread.
_DATA_OPTIONS: dict[str, dict[str, bool]] = {
    "proc": {"hidepid": True, "subset": True},
    "tmpfs": {"mode": True, "size": True, "nr_inodes": True, "nr_blocks": True, "uid": True, "gid": True,
              "huge": True, "inode64": False, "inode32": False},
    "sysfs": {},
    "devpts": {"newinstance": False, "ptmxmode": True, "mode": True, "uid": True, "gid": True, "max": True},
    "mqueue": {},
    "cgroup": {},
    "cgroup2": {},
    "bind": {},
}
_IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
_SCHED_POLICIES = {"SCHED_OTHER": os.SCHED_OTHER, "SCHED_BATCH": os.SCHED_BATCH, "SCHED_IDLE": os.SCHED_IDLE}
_PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}  # PER_LINUX, PER_LINUX32 (linux/personality.h)


# -- the value ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OciUser:
    """process.user: the ids the process runs as. umask None: inspectr's 022."""

    uid: int
    gid: int
    umask: int | None
    additional_gids: tuple[int, ...]


@dataclass(frozen=True)
class OciCapabilities:
    """process.capabilities as sorted capability numbers (CAPABILITIES[n] is n's name). `ambient`
    holds only the capabilities the kernel lets a process raise (also permitted and inheritable);
    the others are left out with a note, as runc and crun skip them."""

    bounding: tuple[int, ...] = ()
    effective: tuple[int, ...] = ()
    inheritable: tuple[int, ...] = ()
    permitted: tuple[int, ...] = ()
    ambient: tuple[int, ...] = ()


@dataclass(frozen=True)
class OciRlimit:
    """One process.rlimits entry: setrlimit(resource, (soft, hard)). -1 is RLIM_INFINITY (the
    config's 2**64-1), as in `resource` and ContainerSpec.rlimits."""

    name: str  # "RLIMIT_NOFILE"
    resource: int
    soft: int
    hard: int


@dataclass(frozen=True)
class OciScheduler:
    """process.scheduler: sched_setscheduler(policy, priority 0) and then nice (setpriority)."""

    policy: int  # os.SCHED_OTHER, SCHED_BATCH or SCHED_IDLE
    nice: int


@dataclass(frozen=True)
class OciIoPriority:
    """process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | priority)."""

    io_class: int  # 2 best-effort, 3 idle
    priority: int  # 0..7


@dataclass(frozen=True)
class OciCpuAffinity:
    """process.execCPUAffinity: the CPUs the runtime's process is on while it sets up (`initial`)
    and the process's affinity at exec (`final`); None: unchanged."""

    initial: frozenset[int] | None
    final: frozenset[int] | None


@dataclass(frozen=True)
class OciProcess:
    """The process section. A field left out of the config is None here and the image's own
    value applies (Entrypoint + Cmd, Env, WorkingDir, User), as with a plain `inspectr run`."""

    args: tuple[str, ...] | None
    env: tuple[str, ...] | None  # NAME=VALUE, the whole environment (not added to the image's)
    cwd: str | None
    user: OciUser | None
    capabilities: OciCapabilities  # left out of the config: none at all
    rlimits: tuple[OciRlimit, ...]
    no_new_privileges: bool
    oom_score_adj: int | None
    scheduler: OciScheduler | None
    io_priority: OciIoPriority | None
    exec_cpu_affinity: OciCpuAffinity | None


@dataclass(frozen=True)
class OciMount:
    """One mounts[] entry. `options` is the config's list; `flags` (MS_* flag names in the final
    state after rw/ro and the like, e.g. {"ro", "nosuid"}) and `data` (filesystem options, e.g.
    ("mode=755", "size=65536k")) are what mount(2) gets. A bind mount's `source` is an absolute
    host path that existed when the config was read; other types' sources are labels."""

    destination: str
    type: str  # proc tmpfs sysfs devpts mqueue cgroup cgroup2 bind ("cgroup" is mounted as cgroup2)
    source: str
    options: tuple[str, ...]
    flags: frozenset[str]
    data: tuple[str, ...]
    bind: bool
    recursive: bool  # rbind


@dataclass(frozen=True)
class OciDevice:
    """One linux.devices entry: a node made (or, in a user namespace, bound from the host) at `path`."""

    path: str  # under /dev/
    type: str  # "c" (also for the spec's "u"), "b" or "p"
    major: int
    minor: int
    file_mode: int  # permission bits; 0o666 when the config gives none
    uid: int
    gid: int


@dataclass(frozen=True)
class OciDeviceRule:
    """One linux.resources.devices rule, for the devices cgroup. None is the spec's wildcard."""

    allow: bool
    type: str  # "a", "c" or "b"
    major: int | None
    minor: int | None
    access: str  # a subset of "rwm"


@dataclass(frozen=True)
class OciResources:
    """linux.resources: the parts inspectr applies. None: the config sets nothing and inspectr's
    own default applies (--memory, --pids); -1: explicitly no limit."""

    memory_limit_bytes: int | None
    pids_limit: int | None
    device_rules: tuple[OciDeviceRule, ...]  # empty, or a deny-all rule followed by allow rules


@dataclass(frozen=True)
class OciSyscallArg:
    """A comparison of syscall argument `index`; for SCMP_CMP_MASKED_EQ, `value` is the mask and
    `value_two` the value the masked argument must equal (libseccomp's order)."""

    index: int
    value: int
    value_two: int
    op: str  # one of SECCOMP_OPERATORS


@dataclass(frozen=True)
class OciSyscallRule:
    """linux.seccomp.syscalls[]: `action` for each of `names` when all `args` match."""

    names: tuple[str, ...]
    action: str  # one of SECCOMP_ACTIONS
    errno_ret: int | None  # for SCMP_ACT_ERRNO and SCMP_ACT_TRACE (EPERM when the config gives none)
    args: tuple[OciSyscallArg, ...]


@dataclass(frozen=True)
class OciSeccomp:
    """linux.seccomp. It replaces inspectr's own deny-list for the run."""

    default_action: str
    default_errno_ret: int | None  # for SCMP_ACT_ERRNO and SCMP_ACT_TRACE defaults (EPERM if not given)
    architectures: tuple[str, ...]  # SCMP_ARCH_* besides the native one
    flags: tuple[str, ...]  # SECCOMP_FLAGS
    syscalls: tuple[OciSyscallRule, ...]


@dataclass(frozen=True)
class OciTimeOffset:
    """linux.timeOffsets: how far the time namespace's clock is from the host's."""

    clock: str  # "monotonic" or "boottime"
    secs: int
    nanosecs: int


@dataclass(frozen=True)
class OciLinux:
    """The linux section. `namespaces` uses ContainerSpec's names (pid mount net ipc uts cgroup,
    and time and user when the config lists them); cgroup is always there (note in OciConfig)."""

    namespaces: frozenset[str]
    devices: tuple[OciDevice, ...]
    sysctl: tuple[tuple[str, str], ...]  # (key, value) in the config's order
    seccomp: OciSeccomp | None  # None: inspectr's own deny-list, as for a plain run
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    resources: OciResources
    personality: int | None  # PER_LINUX or PER_LINUX32
    time_offsets: tuple[OciTimeOffset, ...]


@dataclass(frozen=True)
class OciConfig:
    """Everything of a config.json that a run applies. `mounts` replaces inspectr's own /proc,
    /dev and /sys mounts. `hostname` None: inspectr's ("inspectr"; a new UTS namespace would
    otherwise show the host's). `notes` say where the run differs from the letter of the config
    in a way the config cannot have meant otherwise (for the run's report)."""

    oci_version: str
    process: OciProcess
    root_readonly: bool
    hostname: str | None
    domainname: str | None  # set through /proc/sys/kernel/domainname in the container's UTS namespace
    mounts: tuple[OciMount, ...]
    linux: OciLinux
    notes: tuple[str, ...]


# -- reading ------------------------------------------------------------------------------------------


def load_oci_config(path: Path) -> OciConfig:
    """The config at `path` (a regular file of at most OCI_CONFIG_MAX_BYTES, strict JSON: no
    duplicate keys, no NaN). Raises UsageError naming the file and the field for anything that
    cannot be read or applied."""
    data = read_user_file(path, "OCI runtime config", OCI_CONFIG_MAX_BYTES)
    try:
        doc = parse_strict_json(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 JSON: {err.reason} at byte {err.start}") from None
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply") from None
    except ValueError as err:
        raise UsageError(f"{path}: invalid JSON: {_one_line(str(err))}") from None
    return parse_oci_config(doc, str(path))


def parse_oci_config(doc: Any, where: str) -> OciConfig:
    """The OciConfig of a parsed config.json document; `where` names it in errors. Raises
    UsageError("WHERE: FIELD: why") for anything of the runtime-spec that inspectr does not
    apply, for unknown fields at any depth and for values of the wrong type or range."""
    try:
        return _Parser(where).config(doc)
    except RecursionError:  # a hand-built document deeper than any config
        raise UsageError(f"{where}: nested too deeply") from None


def _one_line(text: str, limit: int = 200) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


def _show(value: Any) -> str:
    """A value from the config quoted for a one-line message (control characters escaped)."""
    text = repr(value)
    return _one_line(text if len(text) <= 80 else text[:77] + "...", 100)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _key(at: str, key: str) -> str:
    shown = key if re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key) else _show(key)
    return f"{at}.{shown}" if at else shown


class _Obj:
    """One JSON object of the config, read key by key. `done()` refuses every key not read."""

    def __init__(self, parser: "_Parser", value: Any, at: str) -> None:
        if not isinstance(value, dict):
            parser.fail(at or "(document)", f"expected an object, got {_kind(value)}")
        self.parser, self.value, self.at = parser, value, at
        self.seen: set[str] = set()

    def field(self, key: str) -> str:
        return _key(self.at, key)

    def get(self, key: str) -> Any:
        """The value, None when absent or null (Go's decoding, which runc and crun use, treats
        them alike)."""
        self.seen.add(key)
        return self.value.get(key)

    def done(self) -> None:
        for key in self.value:
            if key not in self.seen:
                self.parser.fail(_key(self.at, key), "unknown field: inspectr refuses what it cannot apply")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or value is False


class _Parser:
    def __init__(self, where: str) -> None:
        self.where = where
        self.notes: list[str] = []

    def fail(self, field: str, message: str) -> NoReturn:
        raise UsageError(f"{self.where}: {field}: {message}")

    # -- scalars

    def string(self, value: Any, field: str, *, max_len: int = _MAX_TEXT) -> str:
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {_kind(value)}")
        if "\0" in value:
            self.fail(field, "contains a NUL character")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            self.fail(field, "not valid Unicode (a lone surrogate)")
        if size > max_len:
            self.fail(field, f"longer than {max_len} bytes")
        return value

    def integer(self, value: Any, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"expected an integer, got {_kind(value)}")
        if not low <= value <= high:
            self.fail(field, f"{value} is out of range {low}..{high}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {_kind(value)}")
        return value

    def array(self, value: Any, field: str, *, max_items: int = 4096) -> list[Any]:
        if not isinstance(value, list):
            self.fail(field, f"expected an array, got {_kind(value)}")
        if len(value) > max_items:
            self.fail(field, f"more than {max_items} entries")
        return value

    def optional_array(self, value: Any, field: str, *, max_items: int = 4096) -> list[Any]:
        return [] if value is None else self.array(value, field, max_items=max_items)

    def strings(self, value: Any, field: str, *, max_items: int = 4096) -> tuple[str, ...]:
        return tuple(self.string(item, f"{field}[{i}]") for i, item in enumerate(self.array(value, field,
                                                                                           max_items=max_items)))

    def abs_path(self, value: Any, field: str) -> str:
        """An absolute, normalised path inside the container: no '.', '..' or empty components,
        so it cannot climb out of the root (the runtime still resolves it in-root)."""
        path = self.string(value, field)
        parts = path.split("/")
        if not path.startswith("/") or any(p in (".", "..") for p in parts) or "//" in path \
                or (path != "/" and path.endswith("/")):
            self.fail(field, f"{_show(path)} is not an absolute, normalised path")
        return path

    def refuse_if_set(self, obj: _Obj, key: str, why: str) -> None:
        """A field inspectr cannot honour: an empty value ("", [], {}, false, null) asks for
        nothing and passes; anything else is refused."""
        if not _empty(obj.get(key)):
            self.fail(obj.field(key), why)

    # -- the document

    def config(self, doc: Any) -> OciConfig:
        top = _Obj(self, doc, "")
        version = top.get("ociVersion")
        if version is None:
            self.fail("ociVersion", "missing: inspectr reads runtime-spec 1.0.x to 1.2.x")
        version = self.string(version, "ociVersion", max_len=64)
        if not _VERSION.fullmatch(version):
            self.fail("ociVersion", f"{_show(version)} is not supported: inspectr reads runtime-spec 1.0.x to 1.2.x")
        hooks = top.get("hooks")
        if hooks is not None:
            self.hooks(_Obj(self, hooks, "hooks"))
        for platform in ("windows", "solaris", "vm", "zos"):
            if top.get(platform) is not None:
                self.fail(platform, "not a Linux container: inspectr runs Linux containers only")
        annotations = top.get("annotations")  # metadata for other tools: checked, not used
        if annotations is not None:
            ann = _Obj(self, annotations, "annotations")
            for key in list(ann.value):
                self.string(ann.get(key), ann.field(key))
        root_readonly = False
        root = top.get("root")
        if root is not None:
            r = _Obj(self, root, "root")
            if r.get("path") is not None:  # the bundle's rootfs dir: the image is the root here
                self.string(r.get("path"), r.field("path"))
            root_readonly = self.boolean(r.get("readonly"), r.field("readonly")) if r.get("readonly") is not None \
                else False
            r.done()
        hostname = self.hostname(top.get("hostname"), "hostname")
        domainname = self.hostname(top.get("domainname"), "domainname")
        linux_doc = top.get("linux")
        if linux_doc is None:
            self.fail("linux", "missing: inspectr needs linux.namespaces with pid, mount, network, ipc and uts")
        process_doc = top.get("process")
        if process_doc is None:
            self.fail("process", "missing: a run needs a process section")
        linux_obj = _Obj(self, linux_doc, "linux")
        namespaces, userns_ids = self.namespaces(linux_obj)
        process = self.process(_Obj(self, process_doc, "process"), userns_ids)
        mounts_doc = top.get("mounts")
        mounts = tuple(self.mount_entry(m, f"mounts[{i}]") for i, m in enumerate(self.array(mounts_doc, "mounts")))\
            if mounts_doc is not None else ()
        linux = self.linux(linux_obj, namespaces)
        if domainname is not None and any(key == "kernel.domainname" for key, _ in linux.sysctl):
            self.fail("linux.sysctl.kernel.domainname", "the domainname field sets it too: give one of them")
        if _CAP_MKNOD in process.capabilities.bounding and "user" not in namespaces:
            self.check_nodev(mounts)
        top.done()
        return OciConfig(oci_version=version, process=process, root_readonly=root_readonly, hostname=hostname,
                         domainname=domainname, mounts=mounts, linux=linux, notes=tuple(self.notes))

    def check_nodev(self, mounts: tuple[OciMount, ...]) -> None:
        """With CAP_MKNOD (outside a user namespace, where mknod of a device is never allowed) the
        container can make a node for any host device. The root overlay is nodev, so such a node
        is inert there, but not on a writable tmpfs or bind mount without nodev, and inspectr
        cannot count on a device cgroup on every host to stop it being opened."""
        for i, m in enumerate(mounts):
            if m.type in ("tmpfs", "bind") and not {"ro", "nodev"} & m.flags:
                self.fail(f"mounts[{i}].options", f"{m.destination} is writable without nodev while "
                          "process.capabilities.bounding holds CAP_MKNOD: the container could make and open host "
                          "device nodes; add nodev or drop CAP_MKNOD")

    def hooks(self, obj: _Obj) -> None:
        for name in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"):
            value = obj.get(name)
            if value is not None and self.array(value, obj.field(name)):
                self.fail(obj.field(name), "inspectr runs no host hooks")
        obj.done()

    def hostname(self, value: Any, field: str) -> str | None:
        if value is None:
            return None
        name = self.string(value, field, max_len=64)  # HOST_NAME_MAX
        if field == "domainname" and not name:
            return None  # an empty domainname is the kernel's own "(none)"
        return name

    # -- process

    def process(self, obj: _Obj, userns_ids: int | None) -> OciProcess:
        if obj.get("terminal") is not None and self.boolean(obj.get("terminal"), obj.field("terminal")):
            self.fail(obj.field("terminal"), "inspectr runs without a terminal")
        size = obj.get("consoleSize")  # the spec: ignored without a terminal; still checked
        if size is not None:
            cs = _Obj(self, size, obj.field("consoleSize"))
            for key in ("height", "width"):
                self.integer(cs.get(key), cs.field(key), 0, 0xFFFF)
            cs.done()
        self.refuse_if_set(obj, "commandLine", "a Windows field: inspectr runs Linux containers only")
        self.refuse_if_set(obj, "apparmorProfile", "AppArmor profiles are not supported")
        self.refuse_if_set(obj, "selinuxLabel", "SELinux labels are not supported")
        args: tuple[str, ...] | None = None
        if obj.get("args") is not None:
            args = self.strings(obj.get("args"), obj.field("args"))
            if not args:
                self.fail(obj.field("args"), "empty: leave args out to run the image's Entrypoint and Cmd")
        env: tuple[str, ...] | None = None
        if obj.get("env") is not None:
            env = self.strings(obj.get("env"), obj.field("env"))
            for i, item in enumerate(env):
                if "=" not in item or item.startswith("="):
                    self.fail(f"{obj.field('env')}[{i}]", f"{_show(item)} is not NAME=VALUE")
        cwd = self.abs_path(obj.get("cwd"), obj.field("cwd")) if obj.get("cwd") is not None else None
        user = self.user(_Obj(self, obj.get("user"), obj.field("user")), userns_ids) \
            if obj.get("user") is not None else None
        caps = self.capabilities(_Obj(self, obj.get("capabilities"), obj.field("capabilities"))) \
            if obj.get("capabilities") is not None else OciCapabilities()
        rlimits = self.rlimits(obj.get("rlimits"), obj.field("rlimits")) if obj.get("rlimits") is not None else ()
        nnp = self.boolean(obj.get("noNewPrivileges"), obj.field("noNewPrivileges")) \
            if obj.get("noNewPrivileges") is not None else False
        oom = self.integer(obj.get("oomScoreAdj"), obj.field("oomScoreAdj"), -1000, 1000) \
            if obj.get("oomScoreAdj") is not None else None
        scheduler = self.scheduler(_Obj(self, obj.get("scheduler"), obj.field("scheduler"))) \
            if obj.get("scheduler") is not None else None
        io_priority = self.io_priority(_Obj(self, obj.get("ioPriority"), obj.field("ioPriority"))) \
            if obj.get("ioPriority") is not None else None
        affinity = None
        if obj.get("execCPUAffinity") is not None:
            aff = _Obj(self, obj.get("execCPUAffinity"), obj.field("execCPUAffinity"))
            affinity = OciCpuAffinity(self.cpus(aff.get("initial"), aff.field("initial")),
                                      self.cpus(aff.get("final"), aff.field("final")))
            aff.done()
        obj.done()
        return OciProcess(args=args, env=env, cwd=cwd, user=user, capabilities=caps, rlimits=rlimits,
                          no_new_privileges=nnp, oom_score_adj=oom, scheduler=scheduler, io_priority=io_priority,
                          exec_cpu_affinity=affinity)

    def user(self, obj: _Obj, userns_ids: int | None) -> OciUser:
        uid = self.mapped_id(obj.get("uid"), obj.field("uid"), userns_ids)
        gid = self.mapped_id(obj.get("gid"), obj.field("gid"), userns_ids)
        umask = self.integer(obj.get("umask"), obj.field("umask"), 0, 0o777) if obj.get("umask") is not None else None
        gids: tuple[int, ...] = ()
        if obj.get("additionalGids") is not None:
            field = obj.field("additionalGids")
            gids = tuple(self.mapped_id(g, f"{field}[{i}]", userns_ids)
                         for i, g in enumerate(self.array(obj.get("additionalGids"), field, max_items=65536)))
        self.refuse_if_set(obj, "username", "a Windows field: inspectr runs Linux containers only")
        obj.done()
        return OciUser(uid=uid, gid=gid, umask=umask, additional_gids=gids)

    def mapped_id(self, value: Any, field: str, userns_ids: int | None) -> int:
        """A uid or gid; with a user namespace, one that it maps."""
        if value is None:
            self.fail(field, "missing")
        number = self.integer(value, field, 0, MAX_ID)
        if userns_ids is not None and number >= userns_ids:
            self.fail(field, f"{number} is not mapped by the user namespace (ids 0..{userns_ids - 1})")
        return number

    def capabilities(self, obj: _Obj) -> OciCapabilities:
        sets: dict[str, tuple[int, ...]] = {}
        for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            numbers: set[int] = set()
            if obj.get(name) is not None:
                field = obj.field(name)
                for i, cap in enumerate(self.array(obj.get(name), field, max_items=256)):
                    text = self.string(cap, f"{field}[{i}]", max_len=64)
                    if text not in CAPABILITIES:
                        self.fail(f"{field}[{i}]", f"unknown capability {_show(text)}")
                    numbers.add(CAPABILITIES.index(text))
            sets[name] = tuple(sorted(numbers))
        obj.done()
        stray = [c for c in sets["effective"] if c not in sets["permitted"]]
        if stray:  # capset(2) fails with EPERM: an effective capability must be permitted
            self.fail(obj.field("effective"), f"{CAPABILITIES[stray[0]]} is not in permitted")
        ambient = tuple(c for c in sets["ambient"] if c in sets["permitted"] and c in sets["inheritable"])
        dropped = [CAPABILITIES[c] for c in sets["ambient"] if c not in ambient]
        if dropped:
            self.notes.append(f"process.capabilities.ambient: {', '.join(dropped)} not raised: an ambient "
                              "capability must also be permitted and inheritable (the kernel's rule; runc and "
                              "crun skip them too)")
        return OciCapabilities(bounding=sets["bounding"], effective=sets["effective"], inheritable=sets["inheritable"],
                               permitted=sets["permitted"], ambient=ambient)

    def rlimits(self, value: Any, field: str) -> tuple[OciRlimit, ...]:
        out: list[OciRlimit] = []
        for i, item in enumerate(self.array(value, field, max_items=64)):
            obj = _Obj(self, item, f"{field}[{i}]")
            name = self.string(obj.get("type"), obj.field("type"), max_len=64)
            number = getattr(resource, name, None) if name in RLIMITS else None
            if not isinstance(number, int):
                self.fail(obj.field("type"), f"unknown rlimit {_show(name)}")
            if any(r.name == name for r in out):  # config.md: a duplicate type MUST be an error
                self.fail(obj.field("type"), f"{name} is given twice")
            soft = self.rlimit_value(obj.get("soft"), obj.field("soft"))
            hard = self.rlimit_value(obj.get("hard"), obj.field("hard"))
            if hard != -1 and (soft == -1 or soft > hard):  # setrlimit(2) refuses it (EINVAL)
                self.fail(obj.field("soft"), f"{obj.get('soft')} is above hard {hard}")
            obj.done()
            out.append(OciRlimit(name=name, resource=number, soft=soft, hard=hard))
        return tuple(out)

    def rlimit_value(self, value: Any, field: str) -> int:
        """The spec's uint64, with RLIM_INFINITY (2**64-1) as -1, as `resource` and spec.py write
        it. Values from 2**63 up to infinity do not fit Python's setrlimit (a C long)."""
        number = self.integer(value, field, 0, _U64)
        if number == _U64:
            return -1
        if number > (1 << 63) - 1:
            self.fail(field, f"{number} is out of range 0..{(1 << 63) - 1} or {_U64} (unlimited)")
        return number

    def scheduler(self, obj: _Obj) -> OciScheduler:
        policy = self.string(obj.get("policy"), obj.field("policy"), max_len=64)
        if policy in ("SCHED_FIFO", "SCHED_RR", "SCHED_DEADLINE"):
            self.fail(obj.field("policy"), f"{policy}: a real-time policy would let the image's code starve the host")
        if policy not in _SCHED_POLICIES:
            self.fail(obj.field("policy"), f"unknown policy {_show(policy)}")
        nice = self.integer(obj.get("nice"), obj.field("nice"), -20, 19) if obj.get("nice") is not None else 0
        if obj.get("priority") is not None:
            self.integer(obj.get("priority"), obj.field("priority"), 0, 0)  # non-real-time policies take 0 only
        for key in ("flags", "runtime", "deadline", "period"):
            self.refuse_if_set(obj, key, "only SCHED_DEADLINE uses it (sched_setattr), which is refused")
        obj.done()
        return OciScheduler(policy=_SCHED_POLICIES[policy], nice=nice)

    def io_priority(self, obj: _Obj) -> OciIoPriority:
        io_class = self.string(obj.get("class"), obj.field("class"), max_len=64)
        if io_class == "IOPRIO_CLASS_RT":
            self.fail(obj.field("class"), "IOPRIO_CLASS_RT: real-time I/O would let the image's code starve the host")
        if io_class not in _IOPRIO_CLASSES:
            self.fail(obj.field("class"), f"unknown class {_show(io_class)}")
        priority = self.integer(obj.get("priority"), obj.field("priority"), 0, 7)
        obj.done()
        return OciIoPriority(io_class=_IOPRIO_CLASSES[io_class], priority=priority)

    def cpus(self, value: Any, field: str) -> frozenset[int] | None:
        """A cpuset list, "0-3,7" (cpuset(7)); None when absent or empty."""
        if value is None or value == "":
            return None
        text = self.string(value, field, max_len=1024)
        if not _CPU_LIST.fullmatch(text):
            self.fail(field, f"{_show(text)} is not a CPU list such as 0-3,7")
        out: set[int] = set()
        for part in text.split(","):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first > last or last >= _MAX_CPU:
                self.fail(field, f"{_show(part)} is not a CPU range within 0..{_MAX_CPU - 1}")
            out.update(range(first, last + 1))
        return frozenset(out)

    # -- mounts

    def mount_entry(self, value: Any, at: str) -> OciMount:
        obj = _Obj(self, value, at)
        destination = self.abs_path(obj.get("destination"), obj.field("destination"))
        if destination == "/":
            self.fail(obj.field("destination"), "the image is the root: nothing may be mounted over /")
        for key in ("uidMappings", "gidMappings"):
            self.refuse_if_set(obj, key, "idmapped mounts are not supported")
        options = self.strings(obj.get("options"), obj.field("options"), max_items=64) \
            if obj.get("options") is not None else ()
        raw_type = self.string(obj.get("type"), obj.field("type"), max_len=64) if obj.get("type") is not None else ""
        bind_options = [o for o in options if o in ("bind", "rbind")]
        bind = bool(bind_options) or raw_type == "bind"
        if bind and raw_type not in ("", "bind", "none"):
            self.fail(obj.field("type"), f"{_show(raw_type)} with a bind option: say type \"bind\" or leave it out")
        fs_type = "bind" if bind else raw_type
        if not bind and not raw_type:
            self.fail(obj.field("type"), "missing: give a filesystem type, or a bind option")
        if fs_type not in _DATA_OPTIONS:
            self.fail(obj.field("type"), f"{_show(raw_type)} is not supported")
        source_value = obj.get("source")
        if bind:
            if source_value is None:
                self.fail(obj.field("source"), "missing: a bind mount needs a host path")
            source = self.string(source_value, obj.field("source"))
            if not source.startswith("/"):
                self.fail(obj.field("source"), f"{_show(source)}: a bind mount's source must be an absolute host path")
            if not os.path.exists(source):
                self.fail(obj.field("source"), f"{_show(source)} does not exist")
        else:
            source = self.string(source_value, obj.field("source")) if source_value is not None else fs_type
        flags: set[str] = set()
        data: list[str] = []
        for i, option in enumerate(options):
            field = f"{obj.field('options')}[{i}]"
            if option in ("bind", "rbind", "private", "rprivate", "defaults"):
                continue  # bind: above; private: the namespace already is; defaults: nothing at all
            if option in _SET_FLAGS:
                flags.add(option)
            elif option in _CLEAR_FLAGS:
                flags.discard(_CLEAR_FLAGS[option])
            elif option in _REFUSED_OPTIONS:
                self.fail(field, f"{_show(option)}: {_REFUSED_OPTIONS[option]}")
            elif option in _RECURSIVE_ATTRS:
                self.fail(field, f"{_show(option)}: recursive mount attributes (mount_setattr) are not supported")
            else:
                data.append(self.data_option(option, fs_type, field))
        if fs_type in ("cgroup", "cgroup2") and "ro" not in flags:
            self.fail(obj.field("options"), "a writable cgroup mount would let the container raise its own limits: "
                      "add \"ro\"")
        obj.done()
        return OciMount(destination=destination, type=fs_type, source=source, options=options,
                        flags=frozenset(flags), data=tuple(data), bind=bind, recursive="rbind" in bind_options)

    def data_option(self, option: str, fs_type: str, field: str) -> str:
        key, eq, value = option.partition("=")
        allowed = _DATA_OPTIONS[fs_type]
        if key not in allowed:
            self.fail(field, f"{_show(option)} is not a supported option for a {fs_type} mount")
        if allowed[key] != bool(eq) or (eq and not _DATA_VALUE.fullmatch(value)):
            self.fail(field, f"{_show(option)}: malformed")
        return option

    # -- linux

    def namespaces(self, linux: _Obj) -> tuple[frozenset[str], int | None]:
        """ContainerSpec's namespace names, and the ids a user namespace maps (None: none)."""
        field = linux.field("namespaces")
        listed: set[str] = set()
        for i, item in enumerate(self.optional_array(linux.get("namespaces"), field, max_items=16)):
            obj = _Obj(self, item, f"{field}[{i}]")
            kind = self.string(obj.get("type"), obj.field("type"), max_len=64)
            if kind not in _NAMESPACES:
                self.fail(obj.field("type"), f"unknown namespace type {_show(kind)}")
            if kind in listed:
                self.fail(obj.field("type"), f"{kind} is given twice")
            self.refuse_if_set(obj, "path", "joining an existing namespace is not supported")
            obj.done()
            listed.add(kind)
        for kind, what in _REQUIRED_NAMESPACES:
            if kind not in listed:
                prefix = "no network namespace" if kind == "network" else f"no {kind} namespace"
                self.fail(field, f"{prefix}: inspectr never shares {what}")
        if "cgroup" not in listed:
            self.notes.append("linux.namespaces: no cgroup namespace: inspectr makes one anyway, so the run sees "
                              "only its own cgroup")
        userns_ids: int | None = None
        for key in ("uidMappings", "gidMappings"):
            mappings = linux.get(key)
            if mappings is None:
                continue
            if "user" not in listed:
                self.fail(linux.field(key), "needs a user namespace in linux.namespaces")
            size = self.id_mapping(mappings, linux.field(key))
            userns_ids = size if userns_ids is None else min(userns_ids, size)
        if "user" in listed:
            userns_ids = min(userns_ids or USERNS_SIZE, USERNS_SIZE)
            if linux.get("uidMappings") is not None or linux.get("gidMappings") is not None:
                self.notes.append("linux.uidMappings, linux.gidMappings: the host side of the mapping is inspectr's "
                                  "own id range (the image's layers are unpacked for it)")
        return frozenset(_NAMESPACES[k] for k in listed | {"cgroup"}), userns_ids

    def id_mapping(self, value: Any, field: str) -> int:
        items = self.array(value, field, max_items=340)
        if len(items) != 1:
            self.fail(field, "inspectr maps one id range: give exactly one mapping with containerID 0")
        obj = _Obj(self, items[0], f"{field}[0]")
        container_id = self.integer(obj.get("containerID"), obj.field("containerID"), 0, MAX_ID)
        self.integer(obj.get("hostID"), obj.field("hostID"), 0, MAX_ID)
        size = self.integer(obj.get("size"), obj.field("size"), 1, MAX_ID + 1)
        obj.done()
        if container_id != 0:
            self.fail(obj.field("containerID"), f"{container_id}: inspectr maps ids from 0")
        if size < 65536:
            self.fail(obj.field("size"), f"{size}: inspectr maps at least 65536 ids (an image's files may use them)")
        return size

    def linux(self, obj: _Obj, namespaces: frozenset[str]) -> OciLinux:
        device_docs = self.optional_array(obj.get("devices"), obj.field("devices"), max_items=256)
        devices = tuple(self.device(d, f"{obj.field('devices')}[{i}]") for i, d in enumerate(device_docs))
        paths = [d.path for d in devices]
        for i, path in enumerate(paths):
            if path in paths[:i]:
                self.fail(f"{obj.field('devices')}[{i}].path", f"{_show(path)} is given twice")
        sysctl = self.sysctl(obj.get("sysctl"), obj.field("sysctl")) if obj.get("sysctl") is not None else ()
        seccomp = self.seccomp(_Obj(self, obj.get("seccomp"), obj.field("seccomp"))) \
            if obj.get("seccomp") is not None else None
        masked = self.paths(obj, "maskedPaths")
        readonly = self.paths(obj, "readonlyPaths")
        resources = self.resources(_Obj(self, obj.get("resources"), obj.field("resources"))) \
            if obj.get("resources") is not None else OciResources(None, None, ())
        propagation = obj.get("rootfsPropagation")
        if propagation is not None:
            value = self.string(propagation, obj.field("rootfsPropagation"), max_len=64)
            if value not in ("", "private", "rprivate"):
                why = _REFUSED_OPTIONS.get(value, "not a propagation type")
                self.fail(obj.field("rootfsPropagation"), f"{_show(value)}: {why}")
        self.refuse_if_set(obj, "cgroupsPath", "inspectr makes its own cgroup for each run")
        self.refuse_if_set(obj, "mountLabel", "SELinux labels are not supported")
        self.refuse_if_set(obj, "intelRdt", "Intel RDT is not supported")
        personality = self.personality(_Obj(self, obj.get("personality"), obj.field("personality"))) \
            if obj.get("personality") is not None else None
        offsets: tuple[OciTimeOffset, ...] = ()
        if obj.get("timeOffsets") is not None:
            if "time" not in namespaces:
                self.fail(obj.field("timeOffsets"), "needs a time namespace in linux.namespaces")
            offsets = self.time_offsets(_Obj(self, obj.get("timeOffsets"), obj.field("timeOffsets")))
        obj.done()
        return OciLinux(namespaces=namespaces, devices=devices, sysctl=sysctl, seccomp=seccomp, masked_paths=masked,
                        readonly_paths=readonly, resources=resources, personality=personality, time_offsets=offsets)

    def paths(self, obj: _Obj, key: str) -> tuple[str, ...]:
        field = obj.field(key)
        return tuple(self.abs_path(p, f"{field}[{i}]") for i, p in enumerate(self.optional_array(obj.get(key), field)))

    def device(self, value: Any, at: str) -> OciDevice:
        obj = _Obj(self, value, at)
        path = self.abs_path(obj.get("path"), obj.field("path"))
        if not path.startswith("/dev/"):
            self.fail(obj.field("path"), f"{_show(path)}: device nodes are made under /dev/ only")
        kind = self.string(obj.get("type"), obj.field("type"), max_len=8)
        if kind not in ("c", "u", "b", "p"):
            self.fail(obj.field("type"), f"{_show(kind)} is not c, u, b or p")
        major = minor = 0
        if kind != "p" or obj.get("major") is not None or obj.get("minor") is not None:
            major = self.integer(obj.get("major"), obj.field("major"), 0, 0xFFF)  # dev_t's 12 bits
            minor = self.integer(obj.get("minor"), obj.field("minor"), 0, 0xFFFFF)  # and 20 bits
        mode = self.integer(obj.get("fileMode"), obj.field("fileMode"), 0, 0o7777) \
            if obj.get("fileMode") is not None else 0o666
        uid = self.integer(obj.get("uid"), obj.field("uid"), 0, MAX_ID) if obj.get("uid") is not None else 0
        gid = self.integer(obj.get("gid"), obj.field("gid"), 0, MAX_ID) if obj.get("gid") is not None else 0
        obj.done()
        return OciDevice(path=path, type="c" if kind == "u" else kind, major=major, minor=minor, file_mode=mode,
                         uid=uid, gid=gid)

    def sysctl(self, value: Any, field: str) -> tuple[tuple[str, str], ...]:
        obj = _Obj(self, value, field)
        out: list[tuple[str, str]] = []
        for key in list(obj.value):
            at = obj.field(key)
            if not _SYSCTL_KEY.fullmatch(key):
                self.fail(at, "not a sysctl name such as net.ipv4.ip_forward")
            if key == "kernel.hostname":
                self.fail(at, "set the hostname with the hostname field")
            if key not in NAMESPACED_SYSCTLS and not key.startswith(_NAMESPACED_SYSCTL_PREFIXES):
                self.fail(at, "not a namespaced sysctl: it would change the host")
            out.append((key, self.string(obj.get(key), at, max_len=1024)))
        obj.done()
        return tuple(out)

    def resources(self, obj: _Obj) -> OciResources:
        memory: int | None = None
        if obj.get("memory") is not None:
            mem = _Obj(self, obj.get("memory"), obj.field("memory"))
            if mem.get("limit") is not None:
                memory = self.integer(mem.get("limit"), mem.field("limit"), -1, (1 << 63) - 1)
                if memory == 0:
                    self.fail(mem.field("limit"), "0: give a number of bytes, or -1 for no limit")
            if mem.get("swap") is not None:  # swap is the spec's memory+swap limit: inspectr gives no swap
                swap = self.integer(mem.get("swap"), mem.field("swap"), -1, (1 << 63) - 1)
                if memory is None or swap != memory:
                    self.fail(mem.field("swap"), "inspectr gives no swap: leave it out or make it equal to limit")
            if mem.get("disableOOMKiller") is not None and self.boolean(mem.get("disableOOMKiller"),
                                                                         mem.field("disableOOMKiller")):
                self.fail(mem.field("disableOOMKiller"), "a probe over its limit is always killed")
            for key in ("reservation", "kernel", "kernelTCP", "swappiness", "useHierarchy", "checkBeforeUpdate"):
                self.refuse_if_set(mem, key, "not supported: inspectr sets only the memory limit")
            mem.done()
        pids: int | None = None
        if obj.get("pids") is not None:
            p = _Obj(self, obj.get("pids"), obj.field("pids"))
            limit = self.integer(p.get("limit"), p.field("limit"), -(1 << 63), (1 << 63) - 1)
            pids = -1 if limit <= 0 else limit  # runc and crun: 0 and below are no limit
            p.done()
        rules: tuple[OciDeviceRule, ...] = ()
        if obj.get("devices") is not None:
            rules = self.device_rules(obj.get("devices"), obj.field("devices"))
        for key in ("cpu", "blockIO", "hugepageLimits", "network", "rdma", "unified"):
            self.refuse_if_set(obj, key, "not supported: inspectr limits memory and pids (and CPU time with --cpu)")
        obj.done()
        return OciResources(memory_limit_bytes=memory, pids_limit=pids, device_rules=rules)

    def device_rules(self, value: Any, field: str) -> tuple[OciDeviceRule, ...]:
        rules: list[OciDeviceRule] = []
        for i, item in enumerate(self.array(value, field, max_items=256)):
            obj = _Obj(self, item, f"{field}[{i}]")
            allow = self.boolean(obj.get("allow"), obj.field("allow"))
            kind = self.string(obj.get("type"), obj.field("type"), max_len=8) if obj.get("type") is not None else "a"
            if kind not in ("a", "c", "b"):
                self.fail(obj.field("type"), f"{_show(kind)} is not a, c or b")
            major = self.integer(obj.get("major"), obj.field("major"), -1, 0xFFF) \
                if obj.get("major") is not None else None
            minor = self.integer(obj.get("minor"), obj.field("minor"), -1, 0xFFFFF) \
                if obj.get("minor") is not None else None
            access = self.string(obj.get("access"), obj.field("access"), max_len=8) \
                if obj.get("access") is not None else "rwm"
            if not access or any(c not in "rwm" for c in access) or len(set(access)) != len(access):
                self.fail(obj.field("access"), f"{_show(access)} is not a subset of rwm")
            obj.done()
            rule = OciDeviceRule(allow=allow, type=kind, major=None if major == -1 else major,
                                 minor=None if minor == -1 else minor, access="".join(c for c in "rwm" if c in access))
            everything = rule.type == "a" and rule.major is None and rule.minor is None and rule.access == "rwm"
            if i == 0 and not (everything and not allow):
                self.fail(f"{field}[0]", "inspectr applies only a deny-all rule followed by allow rules")
            if i > 0 and not allow:
                self.fail(obj.field("allow"), "inspectr applies only a deny-all rule followed by allow rules")
            rules.append(rule)
        return tuple(rules)

    def personality(self, obj: _Obj) -> int:
        domain = self.string(obj.get("domain"), obj.field("domain"), max_len=64)
        if domain not in _PERSONALITIES:
            self.fail(obj.field("domain"), f"{_show(domain)} is not LINUX or LINUX32")
        self.refuse_if_set(obj, "flags", "the runtime-spec defines no personality flags")
        obj.done()
        return _PERSONALITIES[domain]

    def time_offsets(self, obj: _Obj) -> tuple[OciTimeOffset, ...]:
        out: list[OciTimeOffset] = []
        for clock in ("monotonic", "boottime"):
            if obj.get(clock) is None:
                continue
            o = _Obj(self, obj.get(clock), obj.field(clock))
            secs = self.integer(o.get("secs"), o.field("secs"), -(1 << 62), 1 << 62) if o.get("secs") is not None else 0
            nanos = self.integer(o.get("nanosecs"), o.field("nanosecs"), 0, 999_999_999) \
                if o.get("nanosecs") is not None else 0
            o.done()
            out.append(OciTimeOffset(clock=clock, secs=secs, nanosecs=nanos))
        obj.done()
        return tuple(out)

    # -- seccomp

    def seccomp(self, obj: _Obj) -> OciSeccomp:
        self.refuse_if_set(obj, "listenerPath", "seccomp notification (a user-space agent) is not supported")
        self.refuse_if_set(obj, "listenerMetadata", "seccomp notification (a user-space agent) is not supported")
        if obj.get("defaultAction") is None:
            self.fail(obj.field("defaultAction"), "missing")
        default = self.action(obj.get("defaultAction"), obj.field("defaultAction"))
        default_errno = self.errno_ret(default, obj, "defaultErrnoRet")
        archs: list[str] = []
        if obj.get("architectures") is not None:
            for i, arch in enumerate(self.strings(obj.get("architectures"), obj.field("architectures"), max_items=32)):
                if arch not in SECCOMP_ARCHITECTURES:
                    self.fail(f"{obj.field('architectures')}[{i}]", f"unknown architecture {_show(arch)}")
                if arch not in archs:
                    archs.append(arch)
        flags: list[str] = []
        if obj.get("flags") is not None:
            for i, flag in enumerate(self.strings(obj.get("flags"), obj.field("flags"), max_items=16)):
                if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
                    self.fail(f"{obj.field('flags')}[{i}]", f"{flag}: only for seccomp notification, not supported")
                if flag not in SECCOMP_FLAGS:
                    self.fail(f"{obj.field('flags')}[{i}]", f"unknown flag {_show(flag)}")
                if flag not in flags:
                    flags.append(flag)
        rules: list[OciSyscallRule] = []
        names_total = 0
        unconditional: dict[str, tuple[str, int | None, str]] = {}  # name -> (action, errno, field)
        field = obj.field("syscalls")
        for i, item in enumerate(self.optional_array(obj.get("syscalls"), field, max_items=_MAX_SECCOMP_NAMES)):
            rule = self.syscall_rule(_Obj(self, item, f"{field}[{i}]"))
            names_total += len(rule.names)
            if names_total > _MAX_SECCOMP_NAMES:
                self.fail(field, f"more than {_MAX_SECCOMP_NAMES} syscall names")
            if not rule.args:
                for name in rule.names:
                    earlier = unconditional.setdefault(name, (rule.action, rule.errno_ret, f"{field}[{i}]"))
                    if earlier[:2] != (rule.action, rule.errno_ret):  # libseccomp would keep one silently
                        self.fail(f"{field}[{i}]", f"{name!r} already has action {earlier[0]} in {earlier[2]}")
            rules.append(rule)
        obj.done()
        return OciSeccomp(default_action=default, default_errno_ret=default_errno, architectures=tuple(archs),
                          flags=tuple(flags), syscalls=tuple(rules))

    def action(self, value: Any, field: str) -> str:
        action = self.string(value, field, max_len=64)
        if action == "SCMP_ACT_NOTIFY":
            self.fail(field, "SCMP_ACT_NOTIFY: seccomp notification (a user-space agent) is not supported")
        if action not in SECCOMP_ACTIONS:
            self.fail(field, f"unknown action {_show(action)}")
        return "SCMP_ACT_KILL_THREAD" if action == "SCMP_ACT_KILL" else action  # libseccomp: the same action

    def errno_ret(self, action: str, obj: _Obj, key: str) -> int | None:
        value = obj.get(key)
        if action not in _ERRNO_ACTIONS:
            if value is not None:
                self.fail(obj.field(key), f"only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one, not {action}")
            return None
        return self.integer(value, obj.field(key), 0, 4095) if value is not None else errno_codes.EPERM

    def syscall_rule(self, obj: _Obj) -> OciSyscallRule:
        names = self.strings(obj.get("names"), obj.field("names"), max_items=_MAX_SECCOMP_NAMES) \
            if obj.get("names") is not None else ()
        if not names:
            self.fail(obj.field("names"), "missing or empty")
        for i, name in enumerate(names):
            if not _SYSCALL_NAME.fullmatch(name):
                self.fail(f"{obj.field('names')}[{i}]", f"{_show(name)} is not a syscall name")
        if obj.get("action") is None:
            self.fail(obj.field("action"), "missing")
        action = self.action(obj.get("action"), obj.field("action"))
        errno_ret = self.errno_ret(action, obj, "errnoRet")
        args: list[OciSyscallArg] = []
        field = obj.field("args")
        for i, item in enumerate(self.optional_array(obj.get("args"), field, max_items=6)):
            a = _Obj(self, item, f"{field}[{i}]")
            index = self.integer(a.get("index"), a.field("index"), 0, 5)
            if any(x.index == index for x in args):
                # libseccomp refuses two comparisons of one argument in a rule; runc turns them into
                # separate rules (OR instead of AND). Neither is what such a rule says, so refuse it.
                self.fail(a.field("index"), f"argument {index} is compared twice in one rule")
            value = self.integer(a.get("value"), a.field("value"), 0, _U64)
            two = self.integer(a.get("valueTwo"), a.field("valueTwo"), 0, _U64) if a.get("valueTwo") is not None else 0
            op = self.string(a.get("op"), a.field("op"), max_len=64)
            if op not in SECCOMP_OPERATORS:
                self.fail(a.field("op"), f"unknown operator {_show(op)}")
            a.done()
            args.append(OciSyscallArg(index=index, value=value, value_two=two, op=op))
        for key in ("comment", "includes", "excludes"):
            # Docker's profile format (not the runtime-spec's) has these; a runtime never sees them
            if obj.get(key) is not None:
                self.fail(obj.field(key), "a Docker seccomp profile field, not runtime-spec: convert the profile "
                          "for the host first")
        obj.done()
        return OciSyscallRule(names=names, action=action, errno_ret=errno_ret, args=tuple(args))


# -- seccomp filters ------------------------------------------------------------------------------------


def _action(module: Any, action: str, errno_ret: int | None) -> Any:
    match action:
        case "SCMP_ACT_ALLOW":
            return module.ALLOW
        case "SCMP_ACT_ERRNO":
            return module.ERRNO(errno_ret if errno_ret is not None else errno_codes.EPERM)
        case "SCMP_ACT_TRACE":
            return module.TRACE(errno_ret if errno_ret is not None else errno_codes.EPERM)
        case "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD":
            return module.KILL
        case "SCMP_ACT_KILL_PROCESS":
            return module.KILL_PROCESS
        case "SCMP_ACT_TRAP":
            return module.TRAP
        case "SCMP_ACT_LOG":
            return module.LOG
    raise UsageError(f"internal error: seccomp action {action!r}")


def _known(module: Any, name: str) -> bool:
    try:
        return int(module.resolve_syscall(module.Arch.NATIVE, name)) != -1  # __NR_SCMP_ERROR
    except (RuntimeError, ValueError, TypeError):
        return False


def unknown_syscalls(oci: OciSeccomp, module: Any) -> tuple[str, ...]:
    """The syscall names of `oci` that this libseccomp does not know (newer than it): sorted. For
    the run's notes; seccomp_filter_from says what it does with them."""
    return tuple(sorted({n for rule in oci.syscalls for n in rule.names if not _known(module, n)}))


def seccomp_filter_from(oci: OciSeccomp, module: Any, where: str = "--oci-config") -> Any:
    """A libseccomp SyscallFilter (not loaded) for `oci`, built with `module` (seccomp_filter.py's
    load_module). Rules whose action is the default action are left out (libseccomp refuses them;
    they change nothing). A name libseccomp does not know is left out when the default action
    denies (it is then denied anyway, as runc does for profiles newer than the host); under an
    allowing default (ALLOW, LOG) it would be allowed, so UsageError names it. The filter does
    not set no_new_privs itself (CTL_NNP 0): the runtime does, as process.noNewPrivileges says.
    An architecture libseccomp does not know is left out: its syscalls meet the filter's
    bad-architecture action, kill. Raises UsageError ("WHERE: linux.seccomp...: why", `where`
    naming the config file) when libseccomp refuses a rule."""
    where = f"{where}: linux.seccomp"
    default = _action(module, oci.default_action, oci.default_errno_ret)
    permissive = oci.default_action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
    f = module.SyscallFilter(defaction=default)
    f.set_attr(module.Attr.CTL_NNP, 0)
    for flag in oci.flags:
        f.set_attr(getattr(module.Attr, _FLAG_ATTRS[flag]), 1)
    for arch in oci.architectures:
        value = getattr(module.Arch, arch.removeprefix("SCMP_ARCH_"), None)
        if value is None:
            continue
        try:
            f.add_arch(value)
        except RuntimeError as err:
            if err.args and "-17" not in str(err):  # EEXIST: the native architecture, already there
                raise UsageError(f"{where}.architectures: libseccomp refused {arch}: {err}") from None
    ops = {name: getattr(module, name.removeprefix("SCMP_CMP_")) for name in SECCOMP_OPERATORS}
    for i, rule in enumerate(oci.syscalls):
        if (rule.action, rule.errno_ret) == (oci.default_action, oci.default_errno_ret):
            continue
        action = _action(module, rule.action, rule.errno_ret)
        args = [module.Arg(a.index, ops[a.op], a.value, a.value_two) for a in rule.args]
        for name in rule.names:
            if not _known(module, name):
                if permissive:
                    raise UsageError(f"{where}.syscalls[{i}]: {name!r} is unknown to this libseccomp, so a deny "
                                     "rule for it cannot be made") from None
                continue
            try:
                f.add_rule(action, name, *args)
            except (RuntimeError, ValueError, OSError) as err:
                raise UsageError(f"{where}.syscalls[{i}]: libseccomp refused the rule for {name!r}: "
                                 f"{_one_line(str(err))}") from None
    return f
