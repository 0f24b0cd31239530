"""Run one command of an image in inspectr's own namespace runtime, and record what it did.

`run_image` unpacks the image's layers once per ChainID (rootfs.py), computes the container's
spec (spec.py), starts it (container.py: namespaces, overlay, pivot_root, exec; specs/runtime.md
§2) and supervises it: output capture, the wall-clock and CPU-time limits, cgroups and the exit
status. The overlay's upper dir is the run's filesystem side effect.
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

from ..session import Session
from ..fs.build import build_tree
from ..fs.cache import LayerCache
from ..fs.entry import EntryKind
from ..fs.tree import Tree
from ..image import Image
from .cgroups import RunCgroup
from .container import Container, start
from .rootfs import USERNS_SIZE, prepare_rootfs, read_image_file
from .spec import ContainerSpec, RunOptions, RuntimeError_, build_spec

__all__ = ["RunOptions", "SideEffect", "RunResult", "RuntimeError_", "prepare_rootfs", "run_image"]


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


@dataclass
class _Outcome:
    stdout: bytearray
    stderr: bytearray
    failure: bytearray
    truncated: bool = False
    timed_out: bool = False
    cpu_hit: bool = False


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


def _make_run_dir(spec: ContainerSpec) -> Path:
    """A fresh dir holding the overlay's upper/, work/ and merged/."""
    run_dir = Path(tempfile.mkdtemp(prefix="inspectr-run-"))
    for d in ("upper", "work", "merged"):
        (run_dir / d).mkdir()
    if "user" in spec.namespaces:
        os.chmod(run_dir, 0o711)  # the namespace's root (an unmapped host uid) must reach merged/
    if spec.upper_owner is not None:
        os.chown(run_dir / "upper", *spec.upper_owner)
    return run_dir


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


def run_image(image: Image, options: RunOptions = RunOptions(), *, session: Session | None = None,
              tree: Tree | None = None) -> RunResult:
    """Run the image's command (or options.argv) and return what it did. Needs root. Raises
    RuntimeError_ when the container cannot be set up or started, and build_spec's errors."""
    if os.geteuid() != 0:
        raise RuntimeError_("inspectr run needs root (namespaces and overlay mounts); run it as root")
    session = session or Session(limits=image.limits)
    tree = tree or build_tree(image, session=session)
    root = prepare_rootfs(image, tree, session=session, userns=options.userns)
    cap = tree.limits.max_json_bytes  # the parser reports a file over it
    spec = build_spec(image.config, tree, options, root, read_image_file(tree, root, "etc/passwd", cap),
                      read_image_file(tree, root, "etc/group", cap))
    run_dir = _make_run_dir(spec)
    cgroup: RunCgroup | None = None
    try:
        cgroup = RunCgroup(spec.cgroup)
        started = time.monotonic()
        container = start(spec, run_dir, cgroup)
        try:
            outcome = _supervise(container, spec, cgroup, started)
            status = container.wait()
        finally:
            container.close()
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
        return RunResult(exit_code, sig, outcome.timed_out, bytes(outcome.stdout), bytes(outcome.stderr), duration,
                         _side_effects(run_dir / "upper", tree, spec.id_shift), outcome.truncated, usage.oom_killed,
                         usage.pids_limit_hit, outcome.cpu_hit, usage.memory_peak_bytes, usage.notes)
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(run_dir, ignore_errors=True)
