"""Reference listings of an image's root filesystem, produced by umoci.

Test helper, not a test module: pytest collects nothing from here (the file
name does not match ``test_*.py``, and there are no test functions).  Tests
use it to compare inspectr's merged view of an OCI layout with what a real
layer applier produces::

    from umoci_reference import umoci_available, umoci_listing

    @pytest.mark.needs_umoci
    @pytest.mark.skipif(not umoci_available(), reason="umoci not installed")
    def test_layered_matches_umoci(tmp_path):
        want = umoci_listing(FIXTURES / "oci-layered", "latest", tmp_path)
        ...

``umoci_listing`` copies the layout into ``workdir`` first, so the committed
fixtures are never handed to umoci (``umoci unpack`` 0.4.7 only reads the
layout, as strace shows, but that is not a documented promise, and the copy
also keeps odd characters of the source path out of ``--image PATH:TAG``).
It then runs ``umoci unpack --image COPY:TAG BUNDLE`` (plus ``--rootless``
when not run as root) and walks ``BUNDLE/rootfs`` with ``os.lstat``, never following
symlinks.  Only ``rootfs`` counts: umoci also writes ``config.json``,
``umoci.json`` and an ``.mtree`` file beside it.

Each value of the returned dict describes one path (the root itself is not
listed; keys are relative, without a leading ``/`` or ``./``, and bytes that
are not UTF-8 are decoded with ``os.fsdecode``, i.e. surrogateescape, so
``os.fsencode(key)`` gives the exact on-disk name back)::

    {
        "type": "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket",
        "mode": st_mode & 0o7777,
        "uid": st_uid,
        "gid": st_gid,
        "size": st_size for regular files, else 0,
        "sha256": hex digest of the content for regular files, else None,
        "linkname": readlink() for symlinks, else "",
        "inode": (st_dev, st_ino),   # equal for every name of a hardlink group
        "devmajor": major(st_rdev) for char/block devices, else 0,
        "devminor": minor(st_rdev) for char/block devices, else 0,
    }

Known differences between this listing and the layer semantics inspectr
implements (see /work/shared/specs/unionfs.md; rule numbers in brackets).
Tests must allow for them rather than treat them as inspectr bugs:

* Hardlink header metadata is ignored [R11]: umoci creates the link and does
  not apply the mode/uid/gid of a type-1 entry to the shared inode, whereas
  Docker, containerd and inspectr do.  A layer that re-ships a lower file as
  a hardlink with new mode/owner therefore differs.
* Implied parent directories [R13] (tar entries whose parents have no entry
  of their own) are created with mode 0755 (minus the umask of the process)
  owned by root, or by the calling user under ``--rootless``; inspectr marks
  them as implied and may report other attributes.
* mtimes, atimes and ctimes are not reported and must not be compared:
  umoci applies directory mtimes after the layer, implied directories get
  "now", and whiteout processing touches parents [R10].
* Extended attributes (``security.capability``, ``user.*``, ``trusted.*``)
  are not reported [R16].
* Symlink permission bits are whatever ``lstat`` says on Linux (always
  0o777), not the mode stored in the tar header [R10].
* Sizes of directories, symlinks and devices are reported as 0.
* The root directory's own attributes (a ``./`` entry) are not listed [R14].
* Rootless mode (non-root): every path is owned by the calling user, device
  nodes become empty regular files, and file capabilities are dropped.
  Only compare ownership and device entries when running as root.
* umoci 0.4.7 specifics: it implements whiteouts per the spec (a whiteout
  only hides lower layers [R6]); treats ``.wh.`` like an opaque whiteout
  [R9]; cannot read zstd layers [R20] or PAX global headers [R17]; trusts
  the layer media type; refuses a non-directory root entry [R14]; and
  cannot unpack a tag that points at an image index ("tag is ambiguous":
  use a layout whose tag names a single-platform manifest).  Those cases
  raise ``UmociError``.  Layers written by ``umoci insert`` 0.4.7 lack the
  tar end-of-archive blocks (fixtures/oci-umoci-insert); umoci reads them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

__all__ = ["UmociError", "umoci_available", "umoci_listing", "umoci_version", "hardlink_groups"]

UMOCI = "umoci"
_TIMEOUT = 300  # seconds for one unpack


class UmociError(RuntimeError):
    """umoci failed; the message carries its exit status and stderr."""


def umoci_available() -> bool:
    """True if a working ``umoci`` binary is on PATH."""
    if shutil.which(UMOCI) is None:
        return False
    try:
        subprocess.run([UMOCI, "--version"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def umoci_version() -> str:
    """``umoci --version`` output, e.g. ``umoci version 0.4.7+ds-3+b7``."""
    out = subprocess.run([UMOCI, "--version"], check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def umoci_listing(oci_layout_dir: Path, tag: str, workdir: Path) -> dict[str, dict]:
    """Unpack ``oci_layout_dir:tag`` with umoci under ``workdir`` and list its rootfs.

    ``workdir`` must exist and be writable; the layout copy and the bundle are
    created in a fresh sub-directory of it and left there (a pytest
    ``tmp_path`` cleans them up).  Raises ``UmociError`` if umoci fails and
    ``FileNotFoundError`` if the layout has no ``index.json``.
    """
    src = Path(oci_layout_dir)
    if not (src / "index.json").is_file():
        raise FileNotFoundError(f"not an OCI layout (no index.json): {src}")
    if not tag or ":" in tag or "/" in tag:
        raise ValueError(f"invalid tag: {tag!r}")

    base = Path(tempfile.mkdtemp(prefix="umoci-ref-", dir=Path(workdir)))
    layout = base / "layout"
    bundle = base / "bundle"
    shutil.copytree(src, layout, symlinks=True)
    for path in [layout, *layout.rglob("*")]:  # copies may keep read-only modes
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))

    cmd = [UMOCI, "--log", "error", "unpack"]
    if os.geteuid() != 0:
        cmd.append("--rootless")
    cmd += ["--image", f"{layout}:{tag}", str(bundle)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise UmociError(f"{' '.join(cmd)}: timed out after {_TIMEOUT}s") from exc
    if proc.returncode != 0:
        raise UmociError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")

    rootfs = bundle / "rootfs"
    if not rootfs.is_dir() or rootfs.is_symlink():
        raise UmociError(f"umoci produced no rootfs directory in {bundle}")
    return _walk(os.fsencode(rootfs))


def hardlink_groups(listing: dict[str, dict]) -> list[list[str]]:
    """Sorted groups (size >= 2) of non-directory paths that share an inode."""
    by_inode: dict[tuple[int, int], list[str]] = {}
    for path, info in listing.items():
        if info["type"] != "dir":
            by_inode.setdefault(info["inode"], []).append(path)
    return sorted(sorted(group) for group in by_inode.values() if len(group) > 1)


# ----------------------------------------------------------------- internals

_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)


def _type_name(mode: int) -> str:
    for test, name in _TYPES:
        if test(mode):
            return name
    raise UmociError(f"unknown file type in mode {mode:o}")


def _walk(root: bytes) -> dict[str, dict]:
    """List everything below ``root`` (bytes path), sorted by path."""
    listing: dict[str, dict] = {}
    _walk_dir(root, b"", listing)
    return dict(sorted(listing.items()))


def _walk_dir(root: bytes, rel_dir: bytes, listing: dict[str, dict]) -> None:
    abs_dir = os.path.join(root, rel_dir) if rel_dir else root
    # Keep the directory searchable while its whole subtree is read; its own
    # mode was recorded (by the caller) before any change.
    with _readable_dir(abs_dir):
        for name in sorted(os.listdir(abs_dir)):
            rel = os.path.join(rel_dir, name) if rel_dir else name
            path = os.path.join(root, rel)
            st = os.lstat(path)
            kind = _type_name(st.st_mode)
            is_dev = kind in ("char", "block")
            listing[os.fsdecode(rel)] = {
                "type": kind,
                "mode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
                "size": st.st_size if kind == "file" else 0,
                "sha256": _sha256(path) if kind == "file" else None,
                "linkname": os.fsdecode(os.readlink(path)) if kind == "symlink" else "",
                "inode": (st.st_dev, st.st_ino),
                "devmajor": os.major(st.st_rdev) if is_dev else 0,
                "devminor": os.minor(st.st_rdev) if is_dev else 0,
            }
            if kind == "dir":
                _walk_dir(root, rel, listing)


def _sha256(path: bytes) -> str:
    digest = hashlib.sha256()
    with _readable_file(path):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        finally:
            os.close(fd)
    return digest.hexdigest()


class _TemporaryMode:
    """Add permission bits while reading, then restore the exact mode.

    Only needed without root (``--rootless``), where a 0o000 file or a 0o600
    directory in the image is owned by, but not readable for, the caller.
    """

    def __init__(self, path: bytes, extra: int) -> None:
        self.path = path
        self.extra = extra
        self.saved: int | None = None

    def __enter__(self) -> None:
        if os.geteuid() == 0:
            return
        mode = stat.S_IMODE(os.lstat(self.path).st_mode)
        if mode & self.extra != self.extra:
            os.chmod(self.path, mode | self.extra)
            self.saved = mode

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            os.chmod(self.path, self.saved)


def _readable_dir(path: bytes) -> _TemporaryMode:
    return _TemporaryMode(path, stat.S_IRUSR | stat.S_IXUSR)


def _readable_file(path: bytes) -> _TemporaryMode:
    return _TemporaryMode(path, stat.S_IRUSR)
