"""Carry out a ContainerSpec: the fork, unshare, mount, pivot_root and exec sequence.

Process tree (specs/runtime.md §2): inspectr unshares the pid namespace for its children and
forks B (with a user namespace: inspectr → A, which mounts the overlay and enters the user
namespace → B). B is PID 1: it makes its mount, uts, ipc, net and cgroup namespaces, mounts an
overlay whose lower dirs are the spec's and whose upper dir is fresh, mounts /proc, /sys and a
/dev like Docker's (the host's standard nodes bound into a nodev tmpfs, devpts, shm, mqueue),
masks and write-protects kernel paths, pivots into it, sets the capability sets, no_new_privs
and rlimits (before any user namespace: raising a hard limit needs host root), loads seccomp
and execs. Every syscall goes through linux.py; this module only
decides their order. run.py supervises what `start` returns.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from . import linux
from .cgroups import RunCgroup
from .rootfs import Rootfs
from .seccomp_filter import build_filter
from .seccomp_filter import load_module as load_seccomp
from .spec import ContainerSpec, RuntimeError_

__all__ = ["Container", "start", "RunDir", "reap_stale_runs"]

_MOUNT_FLAGS = {"ro": linux.MS_RDONLY, "nosuid": linux.MS_NOSUID, "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
                "sync": 16, "dirsync": 128, "nosymfollow": 256, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21,
                "strictatime": linux.MS_STRICTATIME, "lazytime": 1 << 25}
_RUN_PREFIX = "inspectr-run-"
# The namespaces B makes itself, after the pid (and time) namespace it was forked into: when
# there is a user namespace, they are owned by it.
_OWN_NAMESPACES = {"mount": linux.CLONE_NEWNS, "uts": linux.CLONE_NEWUTS, "ipc": linux.CLONE_NEWIPC,
                   "net": linux.CLONE_NEWNET, "cgroup": linux.CLONE_NEWCGROUP}
_KNOWN_NAMESPACES = {"pid", "time", "user", *_OWN_NAMESPACES}


class Container:
    """A started container. Read `stdout`, `stderr` and `failure` (the runtime's own set-up
    error; it closes at exec) until they close, then `wait()`. `kill()` ends it at any time,
    `close()` releases the pipes."""

    def __init__(self, pid: int, direct: bool, stdout: int, stderr: int, failure: int, status: int) -> None:
        self.pid = pid  # the child inspectr forked: B itself when direct, else A
        self.direct = direct
        self.stdout, self.stderr, self.failure = stdout, stderr, failure
        self._status = status  # A reports B's pid, then B's wait status
        self._reported = b""
        self._b_pid: int | None = pid if direct else None

    def kill(self) -> None:
        """SIGKILL PID 1: the kernel then kills every process in its pid namespace."""
        if self._b_pid is None:
            self._reported += os.read(self._status, 64)  # A writes B's pid as soon as it forked
            self._b_pid = int(self._reported.split()[0]) if self._reported.strip() else None
        os.kill(self._b_pid or self.pid, signal.SIGKILL)

    def wait(self) -> int | None:
        """Reap the child; B's raw wait status, or None if A died before reporting it."""
        _, raw_status = os.waitpid(self.pid, 0)
        while chunk := os.read(self._status, 256):
            self._reported += chunk
        if self.direct:
            return raw_status
        words = self._reported.split()
        return int(words[words.index(b"status") + 1]) if b"status" in words else None

    def close(self) -> None:
        for fd in (self.stdout, self.stderr, self.failure, self._status):
            try:
                os.close(fd)
            except OSError:
                pass


class RunDir:
    """The run's private dir: upper/, work/ and merged/ for the overlay, and the per-run
    /etc/hostname and /etc/hosts. 0700 in every mode (with a user namespace it belongs to the
    namespace's root, which must reach merged/). With a disk limit it is a tmpfs of that size,
    so what the container writes cannot fill the host's disk.

    A lock file beside it (held while the run lives) names the run's cgroups, so a later run can
    tell a dir a killed inspectr left from one in use, and remove both (`reap_stale_runs`)."""

    def __init__(self, spec: ContainerSpec, cgroup_dirs: list[Path], parent: Path | None = None) -> None:
        parent = parent or Path(tempfile.gettempdir())
        self.path = Path(tempfile.mkdtemp(prefix=f"{_RUN_PREFIX}{os.getpid()}-", dir=parent))
        self.lock = Path(f"{self.path}.lock")
        self._lock_fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        os.write(self._lock_fd, "\n".join(str(d) for d in cgroup_dirs).encode())
        self.mounted = False
        owner = (spec.id_shift, spec.id_shift) if "user" in spec.namespaces else (0, 0)
        if spec.disk_bytes is not None:
            linux.mount("tmpfs", str(self.path), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                        f"size={spec.disk_bytes},mode=0700,uid={owner[0]},gid={owner[1]}")
            self.mounted = True
        os.chmod(self.path, 0o700)
        os.chown(self.path, *owner)
        for d in ("upper", "work", "merged"):
            (self.path / d).mkdir()
        if spec.upper_owner is not None:
            os.chown(self.path / "upper", *spec.upper_owner)
        (self.path / "hostname").write_text(f"{spec.hostname}\n")
        (self.path / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{spec.hostname}\n")

    def disk_full(self) -> bool:
        """Whether the disk limit was reached: under a page left on the tmpfs."""
        if not self.mounted:
            return False
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize < 64 << 10

    def used_bytes(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def remove(self) -> None:
        _remove_run_dir(self.path)
        os.close(self._lock_fd)
        self.lock.unlink(missing_ok=True)


def _remove_run_dir(path: Path) -> None:
    """Unmount whatever is mounted in or on `path` (deepest first), then delete it."""
    mounts = []
    try:
        with open("/proc/self/mountinfo", "rb") as fp:
            for line in fp:
                point = line.split(b" ")[4].decode("unicode_escape")
                if point == str(path) or point.startswith(f"{path}/"):
                    mounts.append(point)
    except OSError:
        pass
    for point in sorted(mounts, key=len, reverse=True):
        try:
            linux.umount2(point, linux.MNT_DETACH)
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


def reap_stale_runs(parent: Path | None = None) -> list[str]:
    """Remove the run dirs, mounts and cgroups that runs killed before their clean-up left (their
    lock is no longer held). Returns what was removed, for the report."""
    parent = parent or Path(tempfile.gettempdir())
    removed: list[str] = []
    for lock in parent.glob(f"{_RUN_PREFIX}*.lock"):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live run holds it
            if os.fstat(fd).st_uid != os.geteuid():
                continue  # not ours: never act on another user's file
            for line in os.read(fd, 1 << 16).decode("utf-8", "replace").splitlines():
                cgroup = Path(line.strip())
                if cgroup.is_absolute() and str(cgroup).startswith("/sys/fs/cgroup/") and cgroup.is_dir():
                    _remove_cgroup(cgroup)
                    removed.append(str(cgroup))
            run_dir = Path(str(lock)[: -len(".lock")])
            if run_dir.is_dir() and not run_dir.is_symlink():
                _remove_run_dir(run_dir)
                removed.append(str(run_dir))
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed


def _remove_cgroup(cgroup: Path) -> None:
    """Kill what is left in a stale run's cgroup, then remove it."""
    for _ in range(50):
        try:
            pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            cgroup.rmdir()
            return
        except OSError:
            time.sleep(0.01)


def _mount_overlay(root: Rootfs, run_dir: Path) -> str:
    """The overlay at run_dir/merged. nodev: device nodes shipped in an image are inert; /dev is
    a fresh tmpfs. Lower dirs are relative to the layer cache (resolved at mount time), so a
    page-sized mount option holds more of them."""
    merged = str(run_dir / "merged")
    os.chdir(root.base)
    linux.mount("overlay", merged, "overlay", linux.MS_NODEV,
                f"lowerdir={root.lowerdir},upperdir={run_dir / 'upper'},workdir={run_dir / 'work'}")
    return merged


def _enter_userns(spec: ContainerSpec, run_dir: Path, sync: tuple[int, int]) -> None:
    """A, with a user namespace: mount the overlay while still host root (its trusted.* xattrs
    and the layer cache need that), then enter a new user namespace, let the parent write the
    id maps and become its root."""
    ready_w, go_r = sync
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount("", "/", None, linux.MS_REC | linux.MS_PRIVATE)
    _mount_overlay(spec.rootfs, run_dir)
    linux.unshare(linux.CLONE_NEWUSER)
    os.write(ready_w, b"u")
    if os.read(go_r, 1) != b"g":
        raise OSError("the parent did not map the user namespace's ids")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    # Changing uid cleared "dumpable", which hands /proc/self to the host's root: the time
    # namespace offsets (behave) could then not be written.
    linux.prctl(4, 1)  # PR_SET_DUMPABLE


def _unshare_for_children(spec: ContainerSpec) -> None:
    """The next child is PID 1 of a new pid namespace; with the recipe (§4) it also starts in a
    time namespace whose uptime is a constant."""
    if "time" not in spec.namespaces:
        linux.unshare(linux.CLONE_NEWPID)
        return
    linux.unshare(linux.CLONE_NEWPID | linux.CLONE_NEWTIME)
    if spec.time_offsets:  # --oci-config's linux.timeOffsets, as given
        with open("/proc/self/timens_offsets", "w") as fp:
            fp.write("".join(f"{clock} {secs} {ns}\n" for clock, secs, ns in spec.time_offsets))
        return
    if spec.uptime_ns is None:
        return
    offsets = []
    for name, clock in (("monotonic", time.CLOCK_MONOTONIC), ("boottime", time.CLOCK_BOOTTIME)):
        delta = spec.uptime_ns - time.clock_gettime_ns(clock)
        offsets.append(f"{name} {delta // 1_000_000_000} {delta % 1_000_000_000}")
    with open("/proc/self/timens_offsets", "w") as fp:  # the namespace for children, still empty
        fp.write("\n".join(offsets) + "\n")


def _threads() -> int:
    with open("/proc/self/status", "rb") as fp:
        for line in fp:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    return 1


def _fork_pid1(spec: ContainerSpec) -> int:
    """Fork straight into new pid (and time) namespaces, then put this process's namespaces for
    children back: one fork per run instead of two (the intermediate process A costs a copy of
    the whole Python process). Returns 0 in the child, which is PID 1."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    saved = [(os.open("/proc/self/ns/pid", flags), linux.CLONE_NEWPID)]
    if "time" in spec.namespaces:
        saved.append((os.open("/proc/self/ns/time", flags), linux.CLONE_NEWTIME))
    pid = -1
    try:
        _unshare_for_children(spec)
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


def _report(fail_w: int, err: BaseException) -> NoReturn:
    try:
        os.write(fail_w, f"runtime: {err}".encode()[:4000])
    finally:
        os._exit(127)


def _pid1(spec: ContainerSpec, run_dir: Path, out_w: int, err_w: int, fail_w: int, cgroup: RunCgroup,
          seccomp_filter: Any) -> NoReturn:
    """B when forked directly by inspectr: join the run's cgroups, then become the container."""
    try:
        cgroup.join()
        linux.set_rlimits(spec.rlimits)  # as host root: raising a hard limit needs it
    except BaseException as err:  # noqa: BLE001
        _report(fail_w, err)
    _container(spec, run_dir, out_w, err_w, fail_w, seccomp_filter)


def _child(spec: ContainerSpec, run_dir: Path, out_w: int, err_w: int, fail_w: int, pid_w: int, cgroup: RunCgroup,
           seccomp_filter: Any, userns_sync: tuple[int, int] | None) -> NoReturn:
    """A: join the run's cgroups, make the pid namespace and fork B (PID 1). Never returns."""
    try:
        linux.set_pdeathsig(signal.SIGKILL)
        cgroup.join()
        linux.set_rlimits(spec.rlimits)  # as host root, before the user namespace: inherited by B
        if userns_sync is not None:
            _enter_userns(spec, run_dir, userns_sync)
        _unshare_for_children(spec)
        pid = os.fork()
        if pid == 0:
            _container(spec, run_dir, out_w, err_w, fail_w, seccomp_filter)
        os.write(pid_w, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(pid_w, f"status {status}\n".encode())  # B's raw wait status: exit code or signal
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - report, never run on in a half-made namespace
        _report(fail_w, err)


def _mount_target(merged: str, target: str, directory: bool) -> str:
    """`target` under the new root, made if missing, never through a symlink: each component of
    an image-controlled path is checked with lstat, so a mount cannot land outside the root."""
    path = merged
    parts = [p for p in target.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise OSError(f"mount destination {target!r}: '..' is not allowed")
    for i, part in enumerate(parts):
        path = f"{path}/{part}"
        last = i == len(parts) - 1
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if last and not directory:
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
            else:
                os.mkdir(path, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise OSError(f"mount destination {target!r}: {'/'.join(parts[:i + 1])} is a symlink in the image; "
                          "inspectr does not follow it")
        if not last and not stat.S_ISDIR(st.st_mode):
            raise OSError(f"mount destination {target!r}: {'/'.join(parts[:i + 1])} is not a directory")
    return path


def _check_host_node(path: str, rdev: tuple[str, int, int]) -> None:
    kind, major, minor = rdev
    try:
        st = os.stat(path)
    except OSError:
        raise OSError(f"linux.devices: {path}: the host has no such node (inspectr binds the host's nodes)") from None
    want = {"c": stat.S_ISCHR, "b": stat.S_ISBLK, "p": stat.S_ISFIFO}[kind]
    if not want(st.st_mode) or (kind != "p" and st.st_rdev != os.makedev(major, minor)):
        raise OSError(f"linux.devices: {path}: the host's node is not {kind} {major}:{minor}")


def _mount_options(options: tuple[str, ...]) -> tuple[int, str | None]:
    flags = 0
    data = []
    for option in options:
        if option in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[option]
        else:
            data.append(option)
    return flags, ",".join(data) or None


def _container(spec: ContainerSpec, run_dir: Path, out_w: int, err_w: int, fail_w: int, seccomp_filter: Any) -> NoReturn:
    """B, PID 1 of the new pid namespace. Never returns."""
    userns = "user" in spec.namespaces
    try:
        linux.set_pdeathsig(signal.SIGKILL)
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        own = 0
        for name, flag in _OWN_NAMESPACES.items():
            if name in spec.namespaces:
                own |= flag
        linux.unshare(own)
        linux.mount("", "/", None, linux.MS_REC | linux.MS_PRIVATE)
        if userns:
            # A mounted the overlay as host root; mounts inherited from a more privileged namespace
            # are locked, and pivot_root refuses a locked root: bind it again in this namespace.
            merged = str(run_dir / "merged")
            linux.mount(merged, merged, None, linux.MS_BIND | linux.MS_REC)
        else:
            merged = _mount_overlay(spec.rootfs, run_dir)
        # Mount targets are the init layer's own directories, made in the fresh /dev, or made
        # here without following any symlink of the image (_mount_target).
        for m in spec.mounts:
            flags, data = _mount_options(m.options)
            is_dir = m.fstype != "bind" or os.path.isdir(m.source)
            target = _mount_target(merged, m.target, is_dir)
            if m.fstype == "bind":
                linux.mount(m.source, target, None, linux.MS_BIND | (linux.MS_REC if m.recursive else 0))
                if flags:
                    linux.mount("", target, None, linux.MS_BIND | linux.MS_REMOUNT | flags)
            else:
                linux.mount(m.fstype, target, m.fstype, flags, data)
        for dev in spec.devices:  # the host's nodes, bound onto files in the nodev /dev
            if dev.rdev is not None:
                _check_host_node(dev.host_path, dev.rdev)
            target = _mount_target(merged, dev.path, False)
            linux.mount(dev.host_path, target, None, linux.MS_BIND)
        for path, target in spec.dev_links:
            if not os.path.lexists(f"{merged}{path}"):
                os.symlink(target, f"{merged}{path}")
        for name in ("hostname", "hosts"):  # per run, as Docker binds them: the init layer is shared
            if (run_dir / name).is_file():
                linux.mount(str(run_dir / name), f"{merged}/etc/{name}", None, linux.MS_BIND)
        for key, value in spec.sysctl:  # namespaced ones only (ociconfig.py), before /proc/sys is read-only
            with open(f"{merged}/proc/sys/{key.replace('.', '/')}", "w") as fp:
                fp.write(value)
        if spec.domainname is not None:
            with open(f"{merged}/proc/sys/kernel/domainname", "w") as fp:
                fp.write(spec.domainname)
        keep = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
        for masked in spec.masked_paths:  # paths this kernel lacks are skipped (runtime.md §6)
            path = f"{merged}{masked}"
            if os.path.isdir(path):
                linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY | keep, "size=0")
            elif os.path.exists(path):
                linux.mount(f"{merged}/dev/null", path, None, linux.MS_BIND)
        for read_only in spec.read_only_paths:
            path = f"{merged}{read_only}"
            if os.path.exists(path):
                linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
                # keep the flags already on the mount: in a user namespace they are locked (EPERM)
                linux.mount(path, path, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | keep)
        os.chdir(merged)
        linux.pivot_root(".", ".")
        linux.mount("", ".", None, linux.MS_SLAVE | linux.MS_REC)
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")
        if spec.read_only_root:  # the overlay's own flags are kept: in a user namespace they are locked
            linux.mount("", "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NODEV)
        linux.sethostname(spec.hostname)
        os.umask(spec.umask)
        if spec.oom_score_adj is not None:  # lowering it needs CAP_SYS_RESOURCE: before caps go
            with open("/proc/self/oom_score_adj", "w") as fp:
                fp.write(str(spec.oom_score_adj))
        caps = spec.capabilities
        if seccomp_filter is not None and not spec.no_new_privs:
            seccomp_filter.load()  # still holding CAP_SYS_ADMIN; what follows is in the profile
            seccomp_filter = None
        linux.drop_bounding_set(caps.bounding)
        os.setgroups(list(spec.additional_gids))
        os.setresgid(spec.gid, spec.gid, spec.gid)
        if spec.uid != 0 and caps.permitted:
            linux.set_keepcaps()  # a non-root user the config gives capabilities keeps them
        os.setresuid(spec.uid, spec.uid, spec.uid)
        if spec.uid == 0 or caps.permitted:
            linux.capset(caps.effective, caps.permitted, caps.inheritable)
        linux.raise_ambient(caps.ambient)
        linux.set_pdeathsig(signal.SIGKILL)  # setresuid cleared it
        os.makedirs(spec.cwd, exist_ok=True)
        os.chdir(spec.cwd)
        if not os.getcwd().startswith("/"):  # CVE-2024-21626: a cwd outside the root
            raise OSError("working directory is outside the container root")
        if spec.disable_aslr:
            linux.disable_aslr()
        if spec.pin_cpu:
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        if spec.cpu_affinity:
            os.sched_setaffinity(0, spec.cpu_affinity)
        if spec.scheduler is not None:
            os.sched_setscheduler(0, spec.scheduler[0], os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, spec.scheduler[1])
        if spec.io_priority is not None:
            linux.set_io_priority(*spec.io_priority)
        if spec.personality is not None:
            linux.set_personality(spec.personality)
        if spec.no_new_privs:
            linux.set_no_new_privs()
        linux.close_range_cloexec(3)
        if seccomp_filter is not None:
            seccomp_filter.load()  # last: after it, even the runtime could not mount or unshare
        os.execve(spec.args[0], list(spec.args), dict(item.split("=", 1) for item in spec.env if "=" in item))
    except BaseException as err:  # noqa: BLE001
        _report(fail_w, err)


def _map_ids(child: int, sync: tuple[int, int], spec: ContainerSpec) -> None:
    """Write A's id maps once it has entered its user namespace, then let it go on. If A died
    first, its failure report says why; the read returns empty and nothing is written."""
    ready_r, go_w = sync
    try:
        if os.read(ready_r, 1) == b"u":
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{child}/{name}", "w") as fp:
                    fp.write(f"0 {spec.id_shift} {spec.id_count}\n")
            os.write(go_w, b"g")
    finally:
        os.close(ready_r)
        os.close(go_w)


def _refuse_unsupported(spec: ContainerSpec) -> None:
    """A spec field this module cannot honour is refused by name, never silently ignored."""
    unknown = spec.namespaces - _KNOWN_NAMESPACES
    if unknown or "pid" not in spec.namespaces:
        raise RuntimeError_(f"internal error: namespaces {sorted(spec.namespaces)}: the pid namespace is required, "
                            f"and only {sorted(_KNOWN_NAMESPACES)} are known")


def start(spec: ContainerSpec, run_dir: Path, cgroup: RunCgroup) -> Container:
    """Fork the container `spec` describes over `run_dir` (holding empty upper/, work/ and
    merged/ dirs), in `cgroup`. Returns once it is forked; the container reports set-up
    failures on `Container.failure`. Raises RuntimeError_ when it cannot be started."""
    _refuse_unsupported(spec)
    userns = "user" in spec.namespaces
    try:  # built here, before the fork: nothing may be imported after pivot_root
        if spec.oci_seccomp is not None:  # --oci-config's own profile
            from .ociconfig import seccomp_filter_from

            seccomp_filter = seccomp_filter_from(spec.oci_seccomp, load_seccomp())
        else:
            seccomp_filter = build_filter(load_seccomp(), spec.capabilities.bounding) if spec.seccomp else None
        if seccomp_filter is not None and not spec.no_new_privs:
            # libseccomp sets no_new_privs when it loads a filter unless told not to, which needs
            # CAP_SYS_ADMIN: the filter is then loaded before capabilities are dropped (as runc does)
            seccomp_filter.set_attr(load_seccomp().Attr.CTL_NNP, 0)
    except RuntimeError as err:
        raise RuntimeError_(str(err)) from None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe()
    sync_parent: tuple[int, int] | None = None  # (ready_r, go_w)
    sync_child: tuple[int, int] | None = None  # (ready_w, go_r)
    if userns:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        sync_parent, sync_child = (ready_r, go_w), (ready_w, go_r)
    # Without a user namespace, inspectr forks PID 1 itself. With one, an intermediate process A
    # must mount the overlay as host root and then enter the namespace, which inspectr cannot.
    # The kernel lets only a single-threaded process set its time namespace back (EUSERS), so
    # a threaded inspectr (an embedding application, a test server) uses A for the recipe too.
    direct = not userns and not ("time" in spec.namespaces and _threads() > 1)
    try:
        child = _fork_pid1(spec) if direct else os.fork()
    except OSError as err:
        for fd in (out_r, out_w, err_r, err_w, fail_r, fail_w, pid_r, pid_w, *(sync_parent or ()), *(sync_child or ())):
            os.close(fd)
        raise RuntimeError_(f"cannot start the container: {err}") from None
    if child == 0:
        for fd in (out_r, err_r, fail_r, pid_r, *(sync_parent or ())):
            os.close(fd)
        if direct:
            os.close(pid_w)
            _pid1(spec, run_dir, out_w, err_w, fail_w, cgroup, seccomp_filter)
        _child(spec, run_dir, out_w, err_w, fail_w, pid_w, cgroup, seccomp_filter, sync_child)
    for fd in (out_w, err_w, fail_w, pid_w):
        os.close(fd)
    container = Container(child, direct, out_r, err_r, fail_r, pid_r)
    if sync_parent is not None and sync_child is not None:
        for fd in sync_child:
            os.close(fd)
        try:
            _map_ids(child, sync_parent, spec)
        except OSError as err:  # never leave a container running that nobody watches
            os.kill(child, signal.SIGKILL)
            container.wait()
            container.close()
            raise RuntimeError_(f"cannot map the user namespace's ids: {err}") from None
    return container
