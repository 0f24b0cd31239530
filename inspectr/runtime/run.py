"""Run one command of an image in inspectr's own namespace runtime, and record what it did.

Process tree (specs/runtime.md §2): inspectr unshares the pid namespace for its children and
forks B (with --userns: inspectr → A, which mounts the overlay and enters the user namespace →
B). B is PID 1: it makes its mount, uts, ipc and net namespaces, mounts an overlay whose lower
dirs are an init layer (mountpoints, fixed hostname/hosts/resolv.conf) and the image's layers,
unpacked once per ChainID (rootfs.py), and whose upper dir is fresh, mounts /proc and a minimal
/dev, pivots into it, drops capabilities, sets no_new_privs and execs. The overlay's upper dir
is the run's filesystem side effect.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import signal
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InspectrError
from ..fs.build import build_tree
from ..fs.cache import LayerCache
from ..fs.entry import EntryKind
from ..fs.tree import Tree
from ..image import Image
from . import linux
from .rootfs import HOSTNAME as _HOSTNAME
from .rootfs import USERNS_BASE, USERNS_SIZE, Rootfs, prepare_rootfs
from .cgroups import Limits as CgroupLimits
from .cgroups import RunCgroup
from .seccomp_filter import build_filter
from .seccomp_filter import load_module as load_seccomp

__all__ = ["RunOptions", "SideEffect", "RunResult", "RuntimeError_", "prepare_rootfs", "run_image"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_UPTIME_NS = 1000 * 1_000_000_000  # the constant uptime probes see under the determinism recipe


class RuntimeError_(InspectrError):
    """The runtime could not set up or start the container."""

    error_class = "runtime-error"


@dataclass(frozen=True)
class RunOptions:
    argv: tuple[str, ...] | None = None  # None: Entrypoint + Cmd
    timeout_s: float = 30.0
    max_output_bytes: int = 8 << 20
    user: str | None = None  # None: the image's User
    env: tuple[str, ...] = ()  # extra NAME=VALUE
    workdir: str | None = None
    network: bool = False  # False: only a loopback interface (a new, empty net namespace)
    deterministic: bool = False  # ASLR off and pinned to CPU 0 (the behave recipe)
    memory_bytes: int | None = 512 << 20
    pids: int | None = 1024
    seccomp: bool = True  # the deny-list; turning it off weakens isolation
    cpu_seconds: float | None = None  # CPU-time limit over all of the probe's processes
    userns: bool = False  # a user namespace: the container's root is an unprivileged host uid


@dataclass(frozen=True)
class SideEffect:
    path: str
    change: str  # added | modified | deleted | opaque
    type: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    sha256: str | None = None


@dataclass
class RunResult:
    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes
    duration_s: float
    side_effects: list[SideEffect] = field(default_factory=list)
    output_truncated: bool = False
    oom_killed: bool = False
    pids_limit_hit: bool = False
    cpu_limit_hit: bool = False
    memory_peak_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


def _passwd_lookup(tree: Tree, rootfs: Rootfs, user: str) -> tuple[int, int, list[int], str]:
    """uid, gid, supplementary groups and home from the *image's* /etc/passwd and /etc/group."""
    name, _, group = user.partition(":")

    def read(path: str) -> list[list[str]]:
        node = tree.resolve(path)
        found = rootfs.find(node.path) if node is not None and node.kind is EntryKind.FILE else None
        if found is None:
            return []
        fd = os.open(found, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fp:
            return [line.split(":") for line in fp.read(1 << 20).decode("utf-8", "replace").splitlines() if line]

    passwd, groups = read("etc/passwd"), read("etc/group")
    uid = gid = None
    home = "/"
    if name.isdigit():
        uid = int(name)
    for row in passwd:
        if len(row) >= 6 and (row[0] == name or (uid is not None and row[2] == str(uid))):
            uid, gid, home = int(row[2]), int(row[3]), row[5] or "/"
            break
    if uid is None:
        raise RuntimeError_(f"user {name!r} is not in the image's /etc/passwd")
    if group:
        gid = int(group) if group.isdigit() else next((int(r[2]) for r in groups if len(r) >= 3 and r[0] == group), None)
        if gid is None:
            raise RuntimeError_(f"group {group!r} is not in the image's /etc/group")
    gid = gid if gid is not None else uid
    user_name = next((r[0] for r in passwd if len(r) >= 3 and r[2] == str(uid)), name)
    extra = [int(r[2]) for r in groups if len(r) >= 4 and user_name in r[3].split(",") and r[2].isdigit()]
    return uid, gid, extra, home


def _resolve_argv0(tree: Tree, argv0: str, path_env: str) -> str:
    if "/" in argv0:
        return argv0
    for d in path_env.split(":"):
        node = tree.resolve(f"{d.strip('/')}/{argv0}")
        if node is not None and node.kind is EntryKind.FILE and node.mode & 0o111:
            return f"/{d.strip('/')}/{argv0}".replace("//", "/")
    raise RuntimeError_(f"{argv0}: executable file not found in the image's PATH {path_env}")


def _mount_overlay(root: Rootfs, run_dir: Path) -> str:
    """The overlay at run_dir/merged. nodev: device nodes shipped in an image are inert; /dev is
    a fresh tmpfs. Lower dirs are relative to the layer cache (resolved at mount time), so a
    page-sized mount option holds more of them."""
    merged = str(run_dir / "merged")
    os.chdir(root.base)
    linux.mount("overlay", merged, "overlay", linux.MS_NODEV,
                f"lowerdir={root.lowerdir},upperdir={run_dir / 'upper'},workdir={run_dir / 'work'}")
    return merged


def _enter_userns(root: Rootfs, run_dir: Path, sync: tuple[int, int]) -> None:
    """A, with --userns: mount the overlay while still host root (its trusted.* xattrs and the
    layer cache need that), then enter a new user namespace, let the parent write the id maps
    (USERNS_BASE..+USERNS_SIZE become 0..) and become its root."""
    ready_w, go_r = sync
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount("", "/", None, linux.MS_REC | linux.MS_PRIVATE)
    _mount_overlay(root, run_dir)
    linux.unshare(linux.CLONE_NEWUSER)
    os.write(ready_w, b"u")
    if os.read(go_r, 1) != b"g":
        raise OSError("the parent did not map the user namespace's ids")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    # Changing uid cleared "dumpable", which hands /proc/self to the host's root: the time
    # namespace offsets (behave) could then not be written.
    linux.prctl(4, 1)  # PR_SET_DUMPABLE


def _unshare_for_children(deterministic: bool) -> None:
    """The next child is PID 1 of a new pid namespace; with the recipe (§4) it also starts in a
    time namespace whose uptime is a constant."""
    if not deterministic:
        linux.unshare(linux.CLONE_NEWPID)
        return
    linux.unshare(linux.CLONE_NEWPID | linux.CLONE_NEWTIME)
    offsets = []
    for name, clock in (("monotonic", time.CLOCK_MONOTONIC), ("boottime", time.CLOCK_BOOTTIME)):
        delta = _UPTIME_NS - time.clock_gettime_ns(clock)
        offsets.append(f"{name} {delta // 1_000_000_000} {delta % 1_000_000_000}")
    with open("/proc/self/timens_offsets", "w") as fp:  # the namespace for children, still empty
        fp.write("\n".join(offsets) + "\n")


def _threads() -> int:
    with open("/proc/self/status", "rb") as fp:
        for line in fp:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    return 1


_PROC_READ_ONLY = ("asound", "bus", "fs", "irq", "sys")  # runc's list, less sysrq-trigger (masked)
_SYS_MASKED = ("firmware", "devices/virtual/powercap")


def _read_only_kernel_views(merged: str) -> None:
    """runc's read-only /proc paths, and a read-only sysfs (of the new, loopback-only network
    namespace) with its firmware and powercap trees hidden under empty read-only tmpfs."""
    keep = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    for name in _PROC_READ_ONLY:
        path = f"{merged}/proc/{name}"
        if os.path.exists(path):
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | keep)
    linux.mount("sysfs", f"{merged}/sys", "sysfs", linux.MS_RDONLY | keep)
    for name in _SYS_MASKED:
        path = f"{merged}/sys/{name}"
        if os.path.isdir(path):
            linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY | keep, "size=0")


def _fork_pid1(deterministic: bool) -> int:
    """Fork straight into new pid (and time) namespaces, then put this process's namespaces for
    children back: one fork per run instead of two (the intermediate process A costs a copy of
    the whole Python process). Returns 0 in the child, which is PID 1."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    saved = [(os.open("/proc/self/ns/pid", flags), linux.CLONE_NEWPID)]
    if deterministic:
        saved.append((os.open("/proc/self/ns/time", flags), linux.CLONE_NEWTIME))
    pid = -1
    try:
        _unshare_for_children(deterministic)
        pid = os.fork()
        return pid
    finally:
        if pid != 0:  # the parent, also when unshare or fork failed: later forks must not land there
            try:
                for fd, kind in saved:
                    linux.setns(fd, kind)
            except OSError:
                if pid > 0:  # never leave a container running that nobody watches
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                raise
            finally:
                for fd, _ in saved:
                    os.close(fd)


def _pid1(root: Rootfs, run_dir: Path, argv: list[str], env: list[str], cwd: str, uid: int, gid: int, groups: list[int],
          out_w: int, err_w: int, fail_w: int, deterministic: bool, cgroup: RunCgroup, seccomp_filter: Any) -> None:
    """B when forked directly by inspectr: join the run's cgroups, then become the container."""
    try:
        cgroup.join()
    except BaseException as err:  # noqa: BLE001
        os.write(fail_w, f"runtime: {err}".encode()[:4000])
        os._exit(127)
    _container(root, run_dir, argv, env, cwd, uid, gid, groups, out_w, err_w, fail_w, deterministic, seccomp_filter, False)


def _child(root: Rootfs, run_dir: Path, argv: list[str], env: list[str], cwd: str, uid: int, gid: int, groups: list[int],
           out_w: int, err_w: int, fail_w: int, pid_w: int, deterministic: bool, cgroup: RunCgroup,
           seccomp_filter: Any, userns_sync: tuple[int, int] | None) -> None:
    """A: join the run's cgroups, make the pid namespace and fork B (PID 1). Never returns."""
    try:
        linux.set_pdeathsig(signal.SIGKILL)
        cgroup.join()
        if userns_sync is not None:
            _enter_userns(root, run_dir, userns_sync)
        _unshare_for_children(deterministic)
        pid = os.fork()
        if pid == 0:
            _container(root, run_dir, argv, env, cwd, uid, gid, groups, out_w, err_w, fail_w, deterministic, seccomp_filter,
                       userns_sync is not None)
        os.write(pid_w, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(pid_w, f"status {status}\n".encode())  # B's raw wait status: exit code or signal
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - report, never run on in a half-made namespace
        os.write(fail_w, f"runtime: {err}".encode()[:4000])
        os._exit(127)


def _container(root: Rootfs, run_dir: Path, argv: list[str], env: list[str], cwd: str, uid: int, gid: int,
               groups: list[int], out_w: int, err_w: int, fail_w: int, deterministic: bool, seccomp_filter: Any,
               userns: bool) -> None:
    """B, PID 1 of the new pid namespace. Never returns."""
    try:
        linux.set_pdeathsig(signal.SIGKILL)
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC | linux.CLONE_NEWNET | linux.CLONE_NEWCGROUP)
        linux.mount("", "/", None, linux.MS_REC | linux.MS_PRIVATE)
        if userns:
            # A mounted the overlay as host root; mounts inherited from a more privileged namespace
            # are locked, and pivot_root refuses a locked root: bind it again in this namespace.
            merged = str(run_dir / "merged")
            linux.mount(merged, merged, None, linux.MS_BIND | linux.MS_REC)
        else:
            merged = _mount_overlay(root, run_dir)
        # Mount targets are the init layer's own directories, so no image symlink is followed.
        linux.mount("proc", f"{merged}/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        linux.mount("tmpfs", f"{merged}/dev", "tmpfs", linux.MS_NOSUID, "mode=755,size=64k")
        for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
                                   ("tty", 5, 0)):
            if userns:  # no mknod in a user namespace: bind the host's node, as rootless runtimes do
                os.close(os.open(f"{merged}/dev/{name}", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o666))
                linux.mount(f"/dev/{name}", f"{merged}/dev/{name}", None, linux.MS_BIND)
            else:
                os.mknod(f"{merged}/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(major, minor))
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{merged}/dev/{name}")
        # /proc paths runc masks: nothing of the host kernel's internals reaches the probe.
        for masked in ("kcore", "keys", "timer_list", "sched_debug", "sysrq-trigger", "kallsyms"):
            p = f"{merged}/proc/{masked}"
            if os.path.exists(p):
                linux.mount(f"{merged}/dev/null", p, None, linux.MS_BIND)
        _read_only_kernel_views(merged)
        os.chdir(merged)
        linux.pivot_root(".", ".")
        linux.mount("", ".", None, linux.MS_SLAVE | linux.MS_REC)
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")
        linux.sethostname(_HOSTNAME)
        os.umask(0o022)
        # Docker's default set for root, without CAP_MKNOD: with no device cgroup here, a probe
        # could otherwise make a node for a host disk and open it.
        keep = tuple(c for c in linux.DOCKER_DEFAULT_CAPS if c != 27) if uid == 0 else ()
        linux.drop_bounding_set(keep)
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if uid == 0:
            linux.capset(keep)
        linux.set_pdeathsig(signal.SIGKILL)
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
        if not os.getcwd().startswith("/"):  # CVE-2024-21626: a cwd outside the root
            raise OSError("working directory is outside the container root")
        if deterministic:
            linux.disable_aslr()
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        linux.set_no_new_privs()
        linux.close_range_cloexec(3)
        if seccomp_filter is not None:
            seccomp_filter.load()  # last: after it, even the runtime could not mount or unshare
        os.execve(argv[0], argv, dict(item.split("=", 1) for item in env if "=" in item))
    except BaseException as err:  # noqa: BLE001
        try:
            os.write(fail_w, f"runtime: {err}".encode()[:4000])
        finally:
            os._exit(127)


def _map_ids(child: int, sync: tuple[int, int]) -> None:
    """Write A's id maps once it has entered its user namespace, then let it go on. If A died
    first, its failure report says why; the read returns empty and nothing is written."""
    ready_r, go_w = sync
    try:
        if os.read(ready_r, 1) == b"u":
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{child}/{name}", "w") as fp:
                    fp.write(f"0 {USERNS_BASE} {USERNS_SIZE}\n")
            os.write(go_w, b"g")
    finally:
        os.close(ready_r)
        os.close(go_w)


def _side_effects(upper: Path, tree: Tree, shift: int = 0) -> list[SideEffect]:
    out = []
    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            lower = tree.get(rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(SideEffect(rel, "deleted", lower.kind.value if lower else "?"))
                continue
            kind = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}.get(stat.S_IFMT(st.st_mode), "other")
            digest = None
            if kind == "file":
                h = hashlib.sha256()
                with open(full, "rb") as fp:
                    while chunk := fp.read(1 << 20):
                        h.update(chunk)
                digest = h.hexdigest()
            opaque = kind == "dir" and _xattr(full, "trusted.overlay.opaque") == b"y"
            if kind == "dir" and lower is not None and not opaque and lower.kind is EntryKind.DIR and \
                    (st.st_mode & 0o7777, _unshift(st.st_uid, shift), _unshift(st.st_gid, shift)) == (lower.mode, lower.uid, lower.gid):
                continue  # a directory copied up only because something below it changed
            change = "opaque" if opaque else ("added" if lower is None else "modified")
            out.append(SideEffect(rel, change, kind, st.st_mode & 0o7777, _unshift(st.st_uid, shift), _unshift(st.st_gid, shift),
                                  digest))
    return sorted(out, key=lambda e: e.path)


def _unshift(host_id: int, shift: int) -> int:
    """The id a file has inside the user namespace (USERNS_BASE+n is n)."""
    return host_id - shift if shift and shift <= host_id < shift + USERNS_SIZE else host_id


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def run_image(image: Image, options: RunOptions = RunOptions(), cache: LayerCache | None = None,
              tree: Tree | None = None) -> RunResult:
    """Run the image's command (or options.argv) and return what it did. Needs root."""
    if os.geteuid() != 0:
        raise RuntimeError_("inspectr run needs root (namespaces and overlay mounts); run it as root")
    tree = tree or build_tree(image, cache=cache)
    root = prepare_rootfs(image, tree, cache, options.userns)
    cfg = image.config
    argv = list(options.argv) if options.argv else list(cfg.entrypoint or ()) + list(cfg.cmd or ())
    if not argv:
        raise RuntimeError_("the image has no Entrypoint or Cmd; give a command after --")
    env = [e for e in cfg.env]
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={_DEFAULT_PATH}")
    uid, gid, groups, home = _passwd_lookup(tree, root, options.user if options.user is not None else (cfg.user or "0"))
    env.append(f"HOSTNAME={_HOSTNAME}")
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    env += list(options.env)
    path_env = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), _DEFAULT_PATH)
    argv[0] = _resolve_argv0(tree, argv[0], path_env)
    cwd = options.workdir or cfg.working_dir or "/"
    run_dir = Path(tempfile.mkdtemp(prefix="inspectr-run-"))
    for d in ("upper", "work", "merged"):
        (run_dir / d).mkdir()
    shift = USERNS_BASE if options.userns else 0
    if options.userns:
        os.chmod(run_dir, 0o711)  # the namespace's root (an unmapped host uid) must reach merged/
        # The merged root takes the upper dir's owner: make it the image's root, shifted.
        os.chown(run_dir / "upper", tree.root.inode.uid + shift, tree.root.inode.gid + shift)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe()
    sync_parent: tuple[int, int] | None = None  # (ready_r, go_w)
    sync_child: tuple[int, int] | None = None  # (ready_w, go_r)
    if options.userns:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        sync_parent, sync_child = (ready_r, go_w), (ready_w, go_r)
    try:  # built here, before the fork: nothing may be imported after pivot_root
        seccomp_filter = build_filter(load_seccomp()) if options.seccomp else None
    except RuntimeError as err:
        raise RuntimeError_(str(err)) from None
    cgroup = RunCgroup(CgroupLimits(options.memory_bytes, options.pids))
    start = time.monotonic()
    # Without a user namespace, inspectr forks PID 1 itself. With one, an intermediate process A
    # must mount the overlay as host root and then enter the namespace, which inspectr cannot.
    # The kernel lets only a single-threaded process set its time namespace back (EUSERS), so
    # a threaded inspectr (an embedding application, a test server) uses A for the recipe too.
    direct = not options.userns and not (options.deterministic and _threads() > 1)
    try:
        child = _fork_pid1(options.deterministic) if direct else os.fork()
    except OSError as err:
        raise RuntimeError_(f"cannot start the container: {err}") from None
    if child == 0:
        for fd in (out_r, err_r, fail_r, pid_r, *(sync_parent or ())):
            os.close(fd)
        if direct:
            os.close(pid_w)
            _pid1(root, run_dir, argv, env, cwd, uid, gid, groups, out_w, err_w, fail_w, options.deterministic, cgroup,
                  seccomp_filter)
        _child(root, run_dir, argv, env, cwd, uid, gid, groups, out_w, err_w, fail_w, pid_w, options.deterministic, cgroup,
               seccomp_filter, sync_child)
    for fd in (out_w, err_w, fail_w, pid_w):
        os.close(fd)
    if sync_parent is not None and sync_child is not None:
        for fd in sync_child:
            os.close(fd)
        _map_ids(child, sync_parent)
    try:
        outputs = {out_r: bytearray(), err_r: bytearray(), fail_r: bytearray()}
        open_fds = set(outputs)
        truncated = timed_out = False
        b_pid: int | None = child if direct else None
        pid_buf = b""
        cpu_hit = False
        while open_fds:
            left = options.timeout_s - (time.monotonic() - start)
            if options.cpu_seconds is not None and not timed_out:
                used = cgroup.cpu_seconds()
                if used is not None and used > options.cpu_seconds:
                    cpu_hit = True
                    left = 0
            if left <= 0:
                timed_out = True
                if b_pid is None:
                    pid_buf += os.read(pid_r, 64)
                    b_pid = int(pid_buf.split()[0]) if pid_buf.strip() else None
                os.kill(b_pid or child, signal.SIGKILL)  # PID 1 dies: the whole namespace dies
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.05 if options.cpu_seconds is not None else 0.5))
            for fd in ready:
                data = os.read(fd, 1 << 16)
                if not data:
                    open_fds.discard(fd)
                    continue
                buf = outputs[fd]
                if len(buf) + len(data) > options.max_output_bytes:
                    data = data[: max(0, options.max_output_bytes - len(buf))]
                    truncated = True
                buf += data
        _, raw_status = os.waitpid(child, 0)
        duration = time.monotonic() - start
        if outputs[fail_r]:
            raise RuntimeError_(outputs[fail_r].decode("utf-8", "replace"))
        while chunk := os.read(pid_r, 256):
            pid_buf += chunk
        words = pid_buf.split()
        if direct:
            status: int | None = raw_status
        else:
            status = int(words[words.index(b"status") + 1]) if b"status" in words else None
        if cpu_hit:
            timed_out = False  # the kill came from the CPU-time limit, not the wall clock
        sig: int | None
        if cpu_hit or timed_out or status is None:
            exit_code, sig = None, signal.SIGKILL
        elif os.WIFSIGNALED(status):
            exit_code, sig = None, os.WTERMSIG(status)
        else:
            exit_code, sig = os.WEXITSTATUS(status), None
        usage = cgroup.usage()
        return RunResult(exit_code, sig, timed_out, bytes(outputs[out_r]), bytes(outputs[err_r]), duration,
                         _side_effects(run_dir / "upper", tree, shift), truncated, usage.oom_killed, usage.pids_limit_hit,
                         cpu_hit, usage.memory_peak_bytes, usage.notes)
    finally:
        cgroup.remove()
        for fd in (out_r, err_r, fail_r, pid_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(run_dir, ignore_errors=True)
