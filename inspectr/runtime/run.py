"""Run one command of an image in inspectr's own namespace runtime, and record what it did.

`run_image` unpacks the image's layers once per ChainID (rootfs.py), computes the container's
spec (spec.py), starts it (container.py: namespaces, overlay, pivot_root, exec; specs/runtime.md
§2) and supervises it: output capture, the wall-clock and CPU-time limits, cgroups and the exit
status. The overlay's upper dir is the run's filesystem side effect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import select
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..session import Session
from ..fs.entry import EntryKind
from ..fs.tree import Tree
from ..fs.treecache import build_cached_tree
from ..image import Image
from .cgroups import RunCgroup
from .container import Container, RunDir, reap_stale_runs, start
from .rootfs import USERNS_SIZE, prepare_rootfs, read_image_file
from .ociconfig import OciConfig
from .spec import RLIMIT_NAMES, ContainerSpec, RunOptions, RuntimeError_, build_spec

__all__ = ["RunOptions", "SideEffect", "RunResult", "RuntimeError_", "WalkBudget", "prepare_rootfs", "run_image"]


@dataclass(frozen=True)
class SideEffect:
    path: str
    change: str  # added | modified | deleted | opaque
    type: str
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    sha256: str | None = None
    size: int | None = None  # a file's logical size (a sparse file's holes included)
    note: str | None = None  # why a file was not hashed: "not hashed: over limit" and the limit


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
    disk_limit_hit: bool = False
    walk_incomplete: str | None = None  # why the side-effect walk stopped early, and what it left out


@dataclass
class _Outcome:
    stdout: bytearray
    stderr: bytearray
    failure: bytearray
    truncated: bool = False
    timed_out: bool = False
    cpu_hit: bool = False


@dataclass(frozen=True)
class WalkBudget:
    """What inspectr may spend on the host reading a run's side effects (docs/security.md): a
    container chooses how many files it writes and how large they claim to be."""

    max_entries: int = 200_000
    max_file_bytes: int = 256 << 20  # logical size: a larger file is listed, not hashed
    max_hash_bytes: int = 1 << 30  # data read and hashed over the whole walk
    max_seconds: float = 10.0


_ZEROS = bytes(1 << 20)


def _hash_sparse(fd: int, size: int) -> str:
    """sha256 of a file's logical content, reading only its data extents (SEEK_DATA/SEEK_HOLE):
    holes are hashed as zeros without a read."""
    h = hashlib.sha256()
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            data = size
        while pos < min(data, size):  # the hole before the next data
            n = min(len(_ZEROS), min(data, size) - pos)
            h.update(_ZEROS[:n])
            pos += n
        if pos >= size:
            break
        hole = min(os.lseek(fd, pos, os.SEEK_HOLE), size)
        os.lseek(fd, pos, os.SEEK_SET)
        while pos < hole:
            chunk = os.read(fd, min(1 << 20, hole - pos))
            if not chunk:
                return h.hexdigest()  # the file shrank under us: what was there
            h.update(chunk)
            pos += len(chunk)
    return h.hexdigest()


def _side_effects(upper: Path, tree: Tree, shift: int = 0,
                  budget: WalkBudget = WalkBudget()) -> tuple[list[SideEffect], str | None]:
    """What the run changed, from the overlay's upper dir, within `budget`. Returns the side
    effects and, when a limit stopped the walk, what it left out."""
    out: list[SideEffect] = []
    deadline = time.monotonic() + budget.max_seconds
    entries = hashed = 0
    stopped: str | None = None
    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            entries += 1
            if entries > budget.max_entries or time.monotonic() > deadline:
                limit = f"{budget.max_entries} entries" if entries > budget.max_entries else f"{budget.max_seconds:g} s"
                stopped = f"the side-effect walk stopped at its limit of {limit}: later paths are not listed"
                break
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            lower = tree.get(rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(SideEffect(rel, "deleted", lower.kind.value if lower else "?"))
                continue
            kind = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}.get(stat.S_IFMT(st.st_mode), "other")
            digest = note = None
            if kind == "file":
                if st.st_size > budget.max_file_bytes:
                    note = (f"not hashed: over limit ({st.st_size} bytes, {st.st_blocks * 512} allocated; "
                            f"the limit is {budget.max_file_bytes})")
                elif hashed + st.st_blocks * 512 > budget.max_hash_bytes:
                    note = f"not hashed: over limit (the walk's {budget.max_hash_bytes} bytes were spent)"
                else:
                    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
                    try:
                        digest = _hash_sparse(fd, st.st_size)
                    finally:
                        os.close(fd)
                    hashed += st.st_blocks * 512
            opaque = kind == "dir" and _xattr(full, "trusted.overlay.opaque") == b"y"
            if kind == "dir" and lower is not None and not opaque and lower.kind is EntryKind.DIR and \
                    (st.st_mode & 0o7777, _unshift(st.st_uid, shift), _unshift(st.st_gid, shift)) == (lower.mode, lower.uid, lower.gid):
                continue  # a directory copied up only because something below it changed
            change = "opaque" if opaque else ("added" if lower is None else "modified")
            out.append(SideEffect(rel, change, kind, st.st_mode & 0o7777, _unshift(st.st_uid, shift),
                                  _unshift(st.st_gid, shift), digest, st.st_size if kind == "file" else None, note))
        if stopped:
            break
    return sorted(out, key=lambda e: e.path), stopped


def _unshift(host_id: int, shift: int) -> int:
    """The id a file has inside the user namespace (USERNS_BASE+n is n)."""
    return host_id - shift if shift and shift <= host_id < shift + USERNS_SIZE else host_id


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _supervise(container: Container, spec: ContainerSpec, cgroup: RunCgroup, started: float) -> _Outcome:
    """Collect output (capped) until the container's pipes close, killing it at the wall-clock
    or CPU-time limit."""
    outcome = _Outcome(bytearray(), bytearray(), bytearray())
    outputs = {container.stdout: outcome.stdout, container.stderr: outcome.stderr, container.failure: outcome.failure}
    open_fds = set(outputs)
    while open_fds:
        left = spec.timeout_s - (time.monotonic() - started)
        if spec.cpu_seconds is not None and not outcome.timed_out:
            used = cgroup.cpu_seconds()
            if used is not None and used > spec.cpu_seconds:
                outcome.cpu_hit = True
                left = 0
        if left <= 0:
            outcome.timed_out = True
            container.kill()
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.05 if spec.cpu_seconds is not None else 0.5))
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if not data:
                open_fds.discard(fd)
                continue
            buf = outputs[fd]
            if len(buf) + len(data) > spec.max_output_bytes:
                data = data[: max(0, spec.max_output_bytes - len(buf))]
                outcome.truncated = True
            buf += data
    if outcome.cpu_hit:
        outcome.timed_out = False  # the kill came from the CPU-time limit, not the wall clock
    return outcome


_CAP_SYS_RESOURCE = 24


def _cgroup_mounts_for_this_host(oci: "OciConfig") -> "OciConfig":
    """A config's cgroup mount needs the unified hierarchy (cgroup2). On a cgroup v1 host an empty
    read-only tmpfs stands at its destination instead, and the run's notes say so."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return oci
    mounts, notes = [], list(oci.notes)
    for i, m in enumerate(oci.mounts):
        if m.type in ("cgroup", "cgroup2"):
            m = dataclasses.replace(m, type="tmpfs", flags=m.flags | {"ro"}, data=("size=0",))
            notes.append(f"mounts[{i}]: {m.destination}: this host uses cgroup v1, so an empty read-only tmpfs "
                         "stands there instead of the cgroup2 hierarchy")
        mounts.append(m)
    return dataclasses.replace(oci, mounts=tuple(mounts), notes=tuple(notes))


def _reachable_rlimits(spec: ContainerSpec) -> tuple[ContainerSpec, list[str]]:
    """Without CAP_SYS_RESOURCE (some sandboxes drop it) no hard limit can be raised above
    inspectr's own: such a limit is lowered to ours, and the run says so."""
    try:
        with open("/proc/self/status") as fp:
            eff = next(int(line.split()[1], 16) for line in fp if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        eff = 0
    if eff >> _CAP_SYS_RESOURCE & 1:
        return spec, []
    limits, notes = [], []
    for which, soft, hard in spec.rlimits:
        ours = resource.getrlimit(which)[1]
        ours = -1 if ours == resource.RLIM_INFINITY else ours
        if ours != -1 and (hard == -1 or hard > ours):
            notes.append(f"rlimit {RLIMIT_NAMES[which]}: hard limit {ours}, not {'unlimited' if hard == -1 else hard}: "
                         "inspectr lacks CAP_SYS_RESOURCE to raise it")
            hard = ours
            soft = hard if soft == -1 or soft > hard else soft
        limits.append((which, soft, hard))
    return dataclasses.replace(spec, rlimits=tuple(limits)), notes


def run_image(image: Image, options: RunOptions = RunOptions(), *, session: Session | None = None,
              tree: Tree | None = None, budget: WalkBudget = WalkBudget()) -> RunResult:
    """Run the image's command (or options.argv) and return what it did. Needs root. Raises
    RuntimeError_ when the container cannot be set up or started, and build_spec's errors.
    Ctrl-C and SIGTERM (raised as KeyboardInterrupt by the CLI) kill the container and remove
    its run dir, mounts and cgroups; what a killed inspectr left is removed by the next run."""
    if os.geteuid() != 0:
        raise RuntimeError_("inspectr run needs root (namespaces and overlay mounts); run it as root")
    session = session or Session(limits=image.limits)
    if options.oci is not None:
        options = dataclasses.replace(options, oci=_cgroup_mounts_for_this_host(options.oci),
                                      userns=options.userns or "user" in options.oci.linux.namespaces)
    tree = tree or build_cached_tree(image, session=session)
    root = prepare_rootfs(image, tree, session=session, userns=options.userns)
    cap = tree.limits.max_json_bytes  # the parser reports a file over it
    spec = build_spec(image.config, tree, options, root, read_image_file(tree, root, "etc/passwd", cap),
                      read_image_file(tree, root, "etc/group", cap))
    spec, limit_notes = _reachable_rlimits(spec)
    reaped = reap_stale_runs()
    cgroup: RunCgroup | None = None
    run_dir: RunDir | None = None
    container: Container | None = None
    try:
        cgroup = RunCgroup(spec.cgroup)
        run_dir = RunDir(spec, list(cgroup.dirs.values()))
        started = time.monotonic()
        container = start(spec, run_dir.path, cgroup)
        outcome = _supervise(container, spec, cgroup, started)
        status = container.wait()
        container.close()
        container = None
        duration = time.monotonic() - started
        if outcome.failure:
            raise RuntimeError_(outcome.failure.decode("utf-8", "replace"))
        sig: int | None
        if outcome.cpu_hit or outcome.timed_out or status is None:
            exit_code, sig = None, signal.SIGKILL
        elif os.WIFSIGNALED(status):
            exit_code, sig = None, os.WTERMSIG(status)
        else:
            exit_code, sig = os.WEXITSTATUS(status), None
        usage = cgroup.usage()
        effects, stopped = _side_effects(run_dir.path / "upper", tree, spec.id_shift, budget)
        if usage.oom_killed and run_dir.mounted:
            used = run_dir.used_bytes()
            limit_notes.append(f"what the container wrote ({used >> 20} MiB, in a tmpfs) counts toward the memory limit")
        notes = list(spec.notes) + limit_notes + usage.notes + ([f"removed what an earlier, killed run left: {', '.join(reaped)}"] if reaped else [])
        return RunResult(exit_code, sig, outcome.timed_out, bytes(outcome.stdout), bytes(outcome.stderr), duration,
                         effects, outcome.truncated, usage.oom_killed, usage.pids_limit_hit, outcome.cpu_hit,
                         usage.memory_peak_bytes, notes, run_dir.disk_full(), stopped)
    finally:
        if container is not None:  # interrupted: never leave a container nobody watches
            container.kill()
            container.wait()
            container.close()
        if cgroup is not None:
            cgroup.remove()
        if run_dir is not None:
            run_dir.remove()
