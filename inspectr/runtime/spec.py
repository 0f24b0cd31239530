"""The container a run makes, as one immutable value (DESIGN.md: the runtime is a pure spec plus
one choreography module).

`build_spec` computes a `ContainerSpec` from the image config, the merged tree, the run options,
the prepared lower dirs and the bytes of the image's /etc/passwd and /etc/group. It makes no
syscall and does no I/O, so it runs (and is tested) as any user. container.py carries a spec
out; run.py supervises it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InspectrError, MalformedImage, UsageError
from ..fs.entry import EntryKind
from ..fs.tree import Tree
from ..model import ImageConfig
from ..untrusted.passwd import MAX_ID, find_group, find_user, member_gids, parse_group, parse_passwd
from .cgroups import Limits as CgroupLimits
from .rootfs import HOSTNAME, USERNS_BASE, USERNS_SIZE, Rootfs

__all__ = ["RuntimeError_", "RunOptions", "Mount", "Device", "ContainerSpec", "build_spec", "DOCKER_DEFAULT_CAPS",
           "DEFAULT_PATH", "UPTIME_NS"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UPTIME_NS = 1000 * 1_000_000_000  # the constant uptime probes see under the determinism recipe
# Docker's default capabilities for root in a container (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)  # chown dac_override fowner fsetid kill
# setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap
_CAP_MKNOD = 27
_NUMBER = re.compile(r"[0-9]+")


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
    seccomp: bool = True  # the deny-list; turning it off weakens isolation
    cpu_seconds: float | None = None  # CPU-time limit over all of the probe's processes
    userns: bool = False  # a user namespace: the container's root is an unprivileged host uid


@dataclass(frozen=True)
class Mount:
    """A filesystem mounted at `target` inside the container, as in the runtime-spec's mounts:
    the flags ro, nosuid, nodev and noexec, and any other option as filesystem data."""

    target: str
    fstype: str  # proc | tmpfs | sysfs
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Device:
    """A character device node made in the container's /dev."""

    path: str
    major: int
    minor: int


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
    capabilities: tuple[int, ...]  # the bounding, permitted and effective set
    no_new_privs: bool
    seccomp: bool  # the deny-list of seccomp_filter.py
    umask: int
    disable_aslr: bool
    pin_cpu: bool  # to the lowest CPU the runtime may use
    cgroup: CgroupLimits
    timeout_s: float
    cpu_seconds: float | None
    max_output_bytes: int


_MOUNTS = (
    Mount("/proc", "proc", ("nosuid", "nodev", "noexec")),
    Mount("/dev", "tmpfs", ("nosuid", "mode=755", "size=64k")),
    Mount("/sys", "sysfs", ("ro", "nosuid", "nodev", "noexec")),  # of the new, loopback-only net namespace
)
_DEVICES = (Device("/dev/null", 1, 3), Device("/dev/zero", 1, 5), Device("/dev/full", 1, 7), Device("/dev/random", 1, 8),
            Device("/dev/urandom", 1, 9), Device("/dev/tty", 5, 0))
_DEV_LINKS = (("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
              ("/dev/stderr", "/proc/self/fd/2"))
# runc's masked /proc paths (nothing of the host kernel's internals reaches the probe), and
# sysfs's firmware and powercap trees.
_MASKED = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/sysrq-trigger", "/proc/kallsyms",
           "/sys/firmware", "/sys/devices/virtual/powercap")
_READ_ONLY = ("/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys")  # runc's, less sysrq-trigger (masked)


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
    env.append(f"HOSTNAME={HOSTNAME}")
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
    return ContainerSpec(
        args=tuple(argv),
        env=tuple(env),
        cwd=options.workdir or config.working_dir or "/",
        uid=uid,
        gid=gid,
        additional_gids=groups,
        hostname=HOSTNAME,
        rootfs=rootfs,
        read_only_root=False,
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
        # Docker's default set for root, without CAP_MKNOD: with no device cgroup here, a probe
        # could otherwise make a node for a host disk and open it. Other users get none.
        capabilities=tuple(c for c in DOCKER_DEFAULT_CAPS if c != _CAP_MKNOD) if uid == 0 else (),
        no_new_privs=True,
        seccomp=options.seccomp,
        umask=0o022,
        disable_aslr=options.deterministic,
        pin_cpu=options.deterministic,
        cgroup=CgroupLimits(options.memory_bytes, options.pids),
        timeout_s=options.timeout_s,
        cpu_seconds=options.cpu_seconds,
        max_output_bytes=options.max_output_bytes,
    )
