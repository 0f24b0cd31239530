"""The container a run makes, as one immutable value (DESIGN.md: the runtime is a pure spec plus
one choreography module).

`build_spec` computes a `ContainerSpec` from the image config, the merged tree, the run options,
the prepared lower dirs and the bytes of the image's /etc/passwd and /etc/group. It makes no
syscall and does no I/O, so it runs (and is tested) as any user. container.py carries a spec
out; run.py supervises it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InspectrError, MalformedImage, UsageError
from ..fs.entry import EntryKind
from ..fs.tree import Tree
from ..model import ImageConfig
from ..untrusted.passwd import MAX_ID, find_group, find_user, member_gids, parse_group, parse_passwd
from .cgroups import Limits as CgroupLimits
from .rootfs import HOSTNAME, USERNS_BASE, USERNS_SIZE, Rootfs

if TYPE_CHECKING:
    from .ociconfig import OciConfig, OciSeccomp

__all__ = ["RuntimeError_", "RunOptions", "Mount", "Device", "Capabilities", "ContainerSpec", "build_spec",
           "DOCKER_DEFAULT_CAPS", "DEFAULT_PATH", "UPTIME_NS", "DEFAULT_RLIMITS", "CAPABILITY_NAMES", "RLIMIT_NAMES",
           "parse_ulimit", "capability_number"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UPTIME_NS = 1000 * 1_000_000_000  # the constant uptime probes see under the determinism recipe
# Docker's default capabilities for root in a container (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)  # chown dac_override fowner fsetid kill
# setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap
_NUMBER = re.compile(r"[0-9]+")
CAPABILITY_NAMES = ("chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
                    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock",
                    "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin",
                    "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
                    "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
                    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore")  # 0..40, capability.h
# Resource limits by number (asm-generic/resource.h) and docker --ulimit name.
RLIMIT_NAMES = ("cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as", "locks",
                "sigpending", "msgqueue", "nice", "rtprio", "rttime")
_UNLIMITED = -1
# Fixed values, so the caller's limits never leak into a container (docs/security.md lists them):
# those of a container under Docker 25+ on a systemd host (dockerd's LimitNOFILE=infinity was
# dropped, so nofile is systemd's 1024:524288), except core, which is 0: a core dump would go to
# the host's core_pattern handler, work inspectr could not bound.
DEFAULT_RLIMITS = (
    (0, _UNLIMITED, _UNLIMITED), (1, _UNLIMITED, _UNLIMITED), (2, _UNLIMITED, _UNLIMITED), (3, 8 << 20, _UNLIMITED),
    (4, 0, 0), (5, _UNLIMITED, _UNLIMITED), (6, _UNLIMITED, _UNLIMITED), (7, 1024, 524288), (8, 8 << 20, 8 << 20),
    (9, _UNLIMITED, _UNLIMITED), (10, _UNLIMITED, _UNLIMITED), (11, 63_432, 63_432), (12, 819_200, 819_200),
    (13, 0, 0), (14, 0, 0), (15, _UNLIMITED, _UNLIMITED),
)


def capability_number(name: str, where: str) -> int:
    """CAP_SYS_ADMIN, sys_admin or SYS_ADMIN -> 21; UsageError naming `where` otherwise."""
    key = name.strip().lower().removeprefix("cap_")
    if key not in CAPABILITY_NAMES:
        raise UsageError(f"{where}: {name!r} is not a capability (CAP_CHOWN … CAP_CHECKPOINT_RESTORE)")
    return CAPABILITY_NAMES.index(key)


def parse_ulimit(text: str) -> tuple[int, int, int]:
    """docker's --ulimit NAME=SOFT[:HARD] (-1 or unlimited for no limit) -> (resource, soft, hard)."""
    name, sep, values = text.partition("=")
    if not sep or name.strip().lower() not in RLIMIT_NAMES:
        raise UsageError(f"--ulimit {text!r}: expected NAME=SOFT[:HARD] with NAME one of {', '.join(RLIMIT_NAMES)}")
    try:
        soft_text, _, hard_text = values.partition(":")
        soft, hard = (-1 if v.strip() in ("-1", "unlimited") else int(v) for v in (soft_text, hard_text or soft_text))
    except ValueError:
        raise UsageError(f"--ulimit {text!r}: limits are numbers, -1 or unlimited") from None
    if soft < -1 or hard < -1 or (hard != -1 and (soft == -1 or soft > hard)):
        raise UsageError(f"--ulimit {text!r}: the soft limit must not exceed the hard limit")
    return RLIMIT_NAMES.index(name.strip().lower()), soft, hard


class RuntimeError_(InspectrError):
    """The runtime could not set up or start the container."""

    error_class = "runtime-error"


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of a run; build_spec turns it into a ContainerSpec."""

    argv: tuple[str, ...] | None = None  # None: Entrypoint + Cmd
    timeout_s: float = 30.0
    max_output_bytes: int = 8 << 20
    user: str | None = None  # None: the image's User
    env: tuple[str, ...] = ()  # extra NAME=VALUE
    workdir: str | None = None
    network: bool = False  # not honoured: every run gets a new net namespace with only loopback
    deterministic: bool = False  # ASLR off and pinned to CPU 0 (the behave recipe)
    memory_bytes: int | None = 512 << 20
    pids: int | None = 1024
    seccomp: bool = True  # Docker's default profile (seccomp_filter.py); turning it off weakens isolation
    cpu_seconds: float | None = None  # CPU-time limit over all of the probe's processes
    userns: bool = False  # a user namespace: the container's root is an unprivileged host uid
    hostname: str = HOSTNAME
    no_new_privs: bool = True  # hardening: Docker's default is False (--allow-new-privileges)
    cap_add: tuple[int, ...] = ()
    cap_drop: tuple[int, ...] = ()
    ulimits: tuple[tuple[int, int, int], ...] = ()  # (resource, soft, hard) over DEFAULT_RLIMITS
    read_only_root: bool = False
    disk_bytes: int | None = 256 << 20  # the upper dir's size limit (a tmpfs: counts toward memory); None: none
    oci: "OciConfig | None" = None  # --oci-config: a runtime-spec config's process and linux sections


@dataclass(frozen=True)
class Mount:
    """A filesystem mounted at `target` inside the container, as in the runtime-spec's mounts:
    flag words (ro, nosuid, nodev, noexec, strictatime…) and any other option as filesystem data.
    A bind mount names its host `source`."""

    target: str
    fstype: str  # proc | tmpfs | sysfs | devpts | mqueue | cgroup2 | bind
    options: tuple[str, ...] = ()
    source: str = ""
    recursive: bool = False


@dataclass(frozen=True)
class Device:
    """A device node in the container's /dev: the host's node at `host_path` bound over it (the
    container's /dev is nodev, so nodes made in it with mknod stay inert)."""

    path: str
    host_path: str
    rdev: tuple[str, int, int] | None = None  # (c|b|p, major, minor) the host's node must have (--oci-config)


@dataclass(frozen=True)
class Capabilities:
    """The five capability sets of the container's first process (capability numbers)."""

    bounding: tuple[int, ...]
    effective: tuple[int, ...]
    permitted: tuple[int, ...]
    inheritable: tuple[int, ...] = ()
    ambient: tuple[int, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a run decides about the container before it starts.

    Paths are inside the container. Ids are the container's own; with a user namespace the
    host sees them shifted by `id_shift`."""

    args: tuple[str, ...]  # args[0] already resolved against the image's PATH
    env: tuple[str, ...]  # NAME=VALUE
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    hostname: str
    rootfs: Rootfs  # the overlay's lower dirs, top first; the upper dir is fresh per run
    read_only_root: bool  # False: the upper dir records what the run wrote
    upper_owner: tuple[int, int] | None  # host uid, gid for the upper dir (the merged root's owner)
    namespaces: frozenset[str]  # pid mount uts ipc net cgroup, and time, user when used
    id_shift: int  # host id of the container's id 0 (0 without a user namespace)
    id_count: int  # ids mapped into the user namespace
    uptime_ns: int | None  # CLOCK_MONOTONIC/BOOTTIME at start in the time namespace
    mounts: tuple[Mount, ...]  # onto the init layer's own directories, in order
    devices: tuple[Device, ...]
    dev_links: tuple[tuple[str, str], ...]  # (path, target) symlinks
    masked_paths: tuple[str, ...]  # files get /dev/null bound over them, dirs an empty read-only tmpfs
    read_only_paths: tuple[str, ...]
    capabilities: Capabilities
    no_new_privs: bool
    seccomp: bool  # Docker's default profile (seccomp_filter.py)
    umask: int
    rlimits: tuple[tuple[int, int, int], ...]  # (resource, soft, hard), -1 unlimited
    disk_bytes: int | None  # the upper dir's tmpfs size
    disable_aslr: bool
    pin_cpu: bool  # to the lowest CPU the runtime may use
    cgroup: CgroupLimits
    timeout_s: float
    cpu_seconds: float | None
    max_output_bytes: int
    # from --oci-config only (defaults: what a plain run does)
    sysctl: tuple[tuple[str, str], ...] = ()
    domainname: str | None = None
    personality: int | None = None
    oom_score_adj: int | None = None
    scheduler: tuple[int, int] | None = None  # (policy, nice)
    io_priority: tuple[int, int] | None = None  # (class, level)
    cpu_affinity: frozenset[int] | None = None
    time_offsets: tuple[tuple[str, int, int], ...] = ()  # (monotonic|boottime, secs, nanosecs)
    oci_seccomp: "OciSeccomp | None" = None  # the config's own profile instead of Docker's
    notes: tuple[str, ...] = ()  # where the run differs from what was asked, said in its report


# Docker's mounts (moby oci/defaults.go), in order. /dev is nodev here (Docker relies on the
# device cgroup instead): the standard nodes are the host's, bound in (Device).
_MOUNTS = (
    Mount("/proc", "proc", ("nosuid", "nodev", "noexec")),
    Mount("/dev", "tmpfs", ("nosuid", "nodev", "strictatime", "mode=755", "size=65536k")),
    Mount("/dev/pts", "devpts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
    Mount("/sys", "sysfs", ("ro", "nosuid", "nodev", "noexec")),  # of the new, loopback-only net namespace
    Mount("/dev/mqueue", "mqueue", ("nosuid", "nodev", "noexec")),
    Mount("/dev/shm", "tmpfs", ("nosuid", "nodev", "noexec", "mode=1777", "size=65536k")),
)
_DEVICES = tuple(Device(f"/dev/{name}", f"/dev/{name}") for name in ("null", "zero", "full", "random", "urandom", "tty"))
_DEV_LINKS = (("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
              ("/dev/stderr", "/proc/self/fd/2"), ("/dev/ptmx", "pts/ptmx"), ("/dev/core", "/proc/kcore"))
# Docker's masked and read-only paths (moby oci/defaults.go): nothing of the host kernel's
# internals reaches the probe.
_MASKED = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
           "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
           "/sys/devices/virtual/powercap")
_READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _number(text: str, user: str, where: str, error: type[InspectrError]) -> int | None:
    """A numeric user or group id, None for a name. A number past uid_t's range is refused:
    (uid_t)-1 would leave setresuid's caller, uid 0, unchanged."""
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    if value > MAX_ID:
        raise error(f"{where} {user!r}: id {text} out of range 0..{MAX_ID}")
    return value


def _resolve_user(user: str, where: str, passwd: bytes | None, group: bytes | None,
                  tree: Tree) -> tuple[int, int, tuple[int, ...], str]:
    """uid, gid, supplementary gids and home for USER[:GROUP] from the image's own files."""
    error = UsageError if where == "--user" else MalformedImage
    name, _, group_name = user.partition(":")
    users = parse_passwd(passwd, "/etc/passwd", tree.limits) if passwd is not None else ()
    groups = parse_group(group, "/etc/group", tree.limits) if group is not None else ()
    uid = _number(name, user, where, error)
    entry = find_user(users, name)
    gid: int | None = None
    home = "/"
    if entry is not None:
        uid, gid, home = entry.uid, entry.gid, entry.home or "/"
    elif uid is None:
        raise RuntimeError_(f"user {name!r} is not in the image's /etc/passwd")
    if group_name:
        gid = _number(group_name, user, where, error)
        if gid is None:
            found = find_group(groups, group_name)
            if found is None:
                raise RuntimeError_(f"group {group_name!r} is not in the image's /etc/group")
            gid = found.gid
    gid = gid if gid is not None else uid
    return uid, gid, member_gids(groups, entry.name if entry is not None else name), home


def _resolve_argv0(tree: Tree, argv0: str, path_env: str) -> str:
    if "/" in argv0:
        return argv0
    for d in path_env.split(":"):
        node = tree.resolve(f"{d.strip('/')}/{argv0}")
        if node is not None and node.kind is EntryKind.FILE and node.mode & 0o111:
            return f"/{d.strip('/')}/{argv0}".replace("//", "/")
    raise RuntimeError_(f"{argv0}: executable file not found in the image's PATH {path_env}")


def _capabilities(uid: int, options: RunOptions) -> Capabilities:
    """Docker's: the default set bounds every user; root has it effective and permitted, other
    users none (as the kernel does on a switch to a non-zero uid); inheritable and ambient are
    empty (moby since CVE-2022-24769). CAP_MKNOD stays: nodes made in the nodev /dev and overlay
    are inert."""
    bounding = tuple(sorted((set(DOCKER_DEFAULT_CAPS) | set(options.cap_add)) - set(options.cap_drop)))
    return Capabilities(bounding, bounding if uid == 0 else (), bounding if uid == 0 else ())


def _rlimits(overrides: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    chosen = {which: (which, soft, hard) for which, soft, hard in DEFAULT_RLIMITS}
    for which, soft, hard in overrides:
        chosen[which] = (which, soft, hard)
    return tuple(chosen[k] for k in sorted(chosen))


def _apply_oci(spec: ContainerSpec, oci: "OciConfig", tree: Tree, options: RunOptions) -> ContainerSpec:
    """The spec with a runtime-spec config's process and linux sections in place of inspectr's
    defaults (ociconfig.py has already refused what cannot be honoured)."""
    p, lx = oci.process, oci.linux
    env = p.env if p.env is not None else spec.env
    args = list(spec.args) if options.argv or not p.args else list(p.args)  # a command after -- wins
    path_env = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), DEFAULT_PATH)
    args[0] = _resolve_argv0(tree, args[0], path_env)
    uid, gid, groups = (p.user.uid, p.user.gid, p.user.additional_gids) if p.user else (spec.uid, spec.gid, spec.additional_gids)
    mounts = tuple(Mount(m.destination, "bind" if m.bind else m.type, tuple(sorted(m.flags)) + m.data, m.source, m.recursive)
                   for m in oci.mounts)
    devices = spec.devices + tuple(Device(d.path, d.path, (d.type, d.major, d.minor)) for d in lx.devices
                                   if d.path not in {x.path for x in spec.devices})
    rlimits = _rlimits(tuple((r.resource, r.soft, r.hard) for r in p.rlimits))
    res = lx.resources
    allow = tuple(f"{r.type} {'*' if r.major is None else r.major}:{'*' if r.minor is None else r.minor} {r.access}"
                  for r in res.device_rules if r.allow)
    cgroup = CgroupLimits(spec.cgroup.memory_bytes if res.memory_limit_bytes is None else
                          (None if res.memory_limit_bytes < 0 else res.memory_limit_bytes),
                          spec.cgroup.pids if res.pids_limit is None else (None if res.pids_limit < 0 else res.pids_limit),
                          allow)
    caps = p.capabilities
    affinity = p.exec_cpu_affinity.final or p.exec_cpu_affinity.initial if p.exec_cpu_affinity else None
    return dataclasses.replace(
        spec, args=tuple(args), env=tuple(env), cwd=p.cwd or spec.cwd, uid=uid, gid=gid, additional_gids=groups,
        hostname=oci.hostname or spec.hostname, read_only_root=oci.root_readonly,
        namespaces=lx.namespaces | {"pid"} | (spec.namespaces & {"user", "time"}),
        mounts=mounts, devices=devices, masked_paths=lx.masked_paths, read_only_paths=lx.readonly_paths,
        capabilities=Capabilities(caps.bounding, caps.effective, caps.permitted, caps.inheritable, caps.ambient),
        no_new_privs=p.no_new_privileges, umask=p.user.umask if p.user and p.user.umask is not None else spec.umask,
        rlimits=rlimits, cgroup=cgroup, sysctl=lx.sysctl, domainname=oci.domainname, personality=lx.personality,
        oom_score_adj=p.oom_score_adj, scheduler=(p.scheduler.policy, p.scheduler.nice) if p.scheduler else None,
        io_priority=(p.io_priority.io_class, p.io_priority.priority) if p.io_priority else None, cpu_affinity=affinity,
        time_offsets=tuple((t.clock, t.secs, t.nanosecs) for t in lx.time_offsets), oci_seccomp=lx.seccomp,
        seccomp=spec.seccomp if lx.seccomp is None else True, notes=oci.notes)


def build_spec(config: ImageConfig, tree: Tree, options: RunOptions, rootfs: Rootfs, passwd: bytes | None = None,
               group: bytes | None = None) -> ContainerSpec:
    """The container for running `options.argv` (or the image's Entrypoint + Cmd) in the image
    whose config is `config` and merged tree `tree`. `passwd` and `group` are the image's
    /etc/passwd and /etc/group, None when absent. Raises RuntimeError_ (no command, unknown
    user or group, command not in PATH), InvalidPasswdEntry (the entry needed is malformed),
    UsageError or MalformedImage (a numeric id out of range in --user or the image's User)."""
    argv = list(options.argv) if options.argv else list(config.entrypoint or ()) + list(config.cmd or ())
    if not argv:
        raise RuntimeError_("the image has no Entrypoint or Cmd; give a command after --")
    env = list(config.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if options.user is not None:
        uid, gid, groups, home = _resolve_user(options.user, "--user", passwd, group, tree)
    else:
        uid, gid, groups, home = _resolve_user(config.user or "0", "the image's User", passwd, group, tree)
    env.append(f"HOSTNAME={options.hostname}")
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    env += list(options.env)
    path_env = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), DEFAULT_PATH)
    argv[0] = _resolve_argv0(tree, argv[0], path_env)
    shift = USERNS_BASE if options.userns else 0
    namespaces = {"pid", "mount", "uts", "ipc", "net", "cgroup"}
    if options.deterministic:
        namespaces.add("time")
    if options.userns:
        namespaces.add("user")
    spec = ContainerSpec(
        args=tuple(argv),
        env=tuple(env),
        cwd=options.workdir or config.working_dir or "/",
        uid=uid,
        gid=gid,
        additional_gids=groups,
        hostname=options.hostname,
        rootfs=rootfs,
        read_only_root=options.read_only_root,
        # The merged root takes the upper dir's owner: with a user namespace, make it the
        # image's root, shifted (the upper dir is created by host root).
        upper_owner=(tree.root.inode.uid + shift, tree.root.inode.gid + shift) if options.userns else None,
        namespaces=frozenset(namespaces),
        id_shift=shift,
        id_count=USERNS_SIZE if options.userns else 0,
        uptime_ns=UPTIME_NS if options.deterministic else None,
        mounts=_MOUNTS,
        devices=_DEVICES,
        dev_links=_DEV_LINKS,
        masked_paths=_MASKED,
        read_only_paths=_READ_ONLY,
        capabilities=_capabilities(uid, options),
        no_new_privs=options.no_new_privs,
        seccomp=options.seccomp,
        umask=0o022,
        rlimits=_rlimits(options.ulimits),
        disk_bytes=options.disk_bytes,
        disable_aslr=options.deterministic,
        pin_cpu=options.deterministic,
        cgroup=CgroupLimits(options.memory_bytes, options.pids),
        timeout_s=options.timeout_s,
        cpu_seconds=options.cpu_seconds,
        max_output_bytes=options.max_output_bytes,
    )
    return _apply_oci(spec, options.oci, tree, options) if options.oci is not None else spec
