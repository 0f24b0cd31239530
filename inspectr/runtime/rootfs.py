"""The run's lower dirs: each layer unpacked once into the cache in overlayfs's own format, so
images that share base layers share their unpacked dirs, and an init layer per image.

A layer's overlay dir is what the layer changes in the union state below it: every path whose
entry is new or different is written with its merged attributes (content comes from the layer
that holds it, so a hard link to a lower file becomes a copy), and every path the layer
removed becomes a whiteout (a 0:0 character device) under a directory that survives. The
union rules (R1-R24: whiteouts, opaque dirs, hardlinks, implied parents) are applied once, by
`fs.tree`; this module only diffs two consecutive states. A layer dir therefore depends on the
layers below it too, so it is keyed by its ChainID (image-spec config.md), as containerd keys
snapshots.

Overlay takes lower dirs as one mount option of at most a page, so a very tall image (more
than about 100 layers here) falls back to one merged export of the whole image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..session import Session
from ..fs.build import index_layers
from ..fs.cache import default_cache_dir, prune_unused
from ..fs.entry import EntryKind
from ..fs.export import ExportOptions, export_dir
from ..fs.tree import Node, Tree
from ..image import Image

__all__ = ["USERNS_BASE", "USERNS_SIZE", "Rootfs", "prepare_rootfs", "read_image_file", "chain_ids", "unpacked_dirs",
           "prune_unpacked", "INIT_DIRS", "HOSTNAME"]

FORMAT = "1"  # bump when the on-disk translation changes: old dirs are then never reused
INIT_DIRS = ("proc", "dev", "sys", "etc")
HOSTNAME = "inspectr"
_EXPORT = ExportOptions(keep_special_bits=True, xattrs=True, ownership=True, devices=True)
# --userns: image ids are stored shifted by USERNS_BASE and mapped back by the user namespace,
# so the container's root is an unprivileged host uid. 2^24 ids fit in the map.
USERNS_BASE = 1 << 30
USERNS_SIZE = 1 << 24
_MAX_MOUNT_DATA = 3800  # a page, less room for upperdir/workdir
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Rootfs:
    """Lower dirs for the overlay, top first: the init layer, then the image's layers."""

    base: Path  # lower dirs are given relative to this dir (keeps the mount option short)
    lowers: tuple[str, ...]

    @property
    def lowerdir(self) -> str:
        return ":".join(self.lowers)

    def find(self, path: str) -> Path | None:
        """The file that the merged view shows at `path` (no symlinks followed): the topmost
        lower dir that has the name, unless a whiteout there hides it."""
        for lower in self.lowers:
            candidate = self.base / lower / path
            try:
                st = os.lstat(candidate)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whiteout
            return candidate
        return None


def read_image_file(tree: Tree, root: Rootfs, path: str, max_bytes: int) -> bytes | None:
    """The image's regular file at `path` (symlinks resolved in-root by the tree), read from the
    unpacked lower dirs: at most max_bytes + 1 bytes, so a caller can tell a file over its cap.
    None when the image has no such file."""
    node = tree.resolve(path)
    found = root.find(node.path) if node is not None and node.kind is EntryKind.FILE else None
    if found is None:
        return None
    fd = os.open(found, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fp:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fp.read(max_bytes + 1)


def _root() -> Path:
    return default_cache_dir() / "rootfs"


def chain_ids(image: Image) -> list[str] | None:
    """ChainID of each layer prefix, or None when a diff_id is missing (legacy archives)."""
    out: list[str] = []
    for layer in image.layers:
        if layer.diff_id is None:
            return None
        out.append(str(layer.diff_id) if not out else
                   "sha256:" + hashlib.sha256(f"{out[-1]} {layer.diff_id}".encode()).hexdigest())
    return out


def _sig(node: Node) -> tuple[object, ...]:
    i = node.inode
    return (i.kind, i.mode, i.uid, i.gid, i.size, i.mtime_ns, i.sha256, i.linkname,
            tuple(sorted((i.xattrs or {}).items())), i.devmajor, i.devminor, i.layer, i.offset, node.implied)


def _state(tree: Tree) -> dict[str, tuple[object, ...]]:
    return {node.path: _sig(node) for node in tree.walk()}


def _whiteout(root: str, path: str) -> None:
    """mknod a 0:0 char device at `path` below `root`, opening every parent with O_NOFOLLOW."""
    parts = path.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.mknod(parts[-1], stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=fd)
    finally:
        os.close(fd)


def _write_layer(image: Image, tree: Tree, prev: dict[str, tuple[object, ...]], now: dict[str, tuple[object, ...]],
                 target: Path, shift: int) -> None:
    changed = {p for p, sig in now.items() if prev.get(p) != sig}
    gone = [p for p in prev if p not in now]
    whiteouts = []
    for path in gone:
        parent = path.rpartition("/")[0]
        if parent == "" or (parent in now and now[parent][0] is EntryKind.DIR):
            whiteouts.append(path)  # below a removed dir, the dir's own whiteout suffices
    keep = changed | {w.rpartition("/")[0] for w in whiteouts if "/" in w}
    export_dir(image, tree, str(target), replace(_EXPORT, id_shift=shift), only=keep)
    for path in sorted(whiteouts):
        _whiteout(str(target), path)


def _publish(tmp: Path, final: Path) -> None:
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process won the race: use its copy


def _init_layer(tree: Tree, where: Path, shift: int) -> None:
    for d in INIT_DIRS:
        (where / d).mkdir(parents=True, exist_ok=True)
        node = tree.get(d)
        if node is not None and node.kind is EntryKind.DIR:
            # The init layer is the top lower dir: its directories must look like the image's.
            os.chown(where / d, node.uid + shift, node.gid + shift)
            os.chmod(where / d, node.mode)
    (where / "etc" / "hostname").write_text(f"{HOSTNAME}\n")
    (where / "etc" / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")
    (where / "etc" / "resolv.conf").write_text("")
    if shift:
        for dirpath, dirnames, filenames in os.walk(where):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                if st.st_uid < shift:
                    os.lchown(os.path.join(dirpath, name), st.st_uid + shift, st.st_gid + shift)
        os.chown(where, shift, shift)


def _ensure_layers(image: Image, chains: list[str], session: Session, shift: int) -> None:
    """Unpack every layer whose chain dir is missing. The trees below it are rebuilt from the
    layer indexes (cache hits), never from unpacked dirs, which are not trusted as input."""
    base = _root() / "layers"
    names = [_dir_name(c, shift) for c in chains]
    missing = [i for i, n in enumerate(names) if _marker(base / n) != f"{FORMAT}\n{chains[i]}\n"]
    if not missing:
        return
    base.mkdir(parents=True, exist_ok=True)
    indexes = index_layers(image, session=session)[: missing[-1] + 1]
    tree = Tree(image.limits)
    prev = _state(tree)
    for i, index in enumerate(indexes):
        tree.apply(index)
        now = _state(tree)
        if i in missing:
            tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
            _write_layer(image, tree, prev, now, tmp / "fs", shift)
            (tmp / "complete").write_text(f"{FORMAT}\n{chains[i]}\n")
            _publish(tmp, base / names[i])
        prev = now


def _dir_name(chain: str, shift: int) -> str:
    # 128 bits: short names fit more layers in the mount option
    return chain.split(":", 1)[1][:32] + (f"-u{shift:x}" if shift else "")


def _marker(d: Path) -> str | None:
    try:
        return (d / "complete").read_text()
    except OSError:
        return None


def _merged(image: Image, tree: Tree, key: str, shift: int) -> str:
    """Fallback: the whole merged tree as one lower dir."""
    base = _root() / "merged"
    if not (base / key / "complete").is_file():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
        export_dir(image, tree, str(tmp / "fs"), replace(_EXPORT, id_shift=shift))
        (tmp / "complete").write_text("1\n")
        _publish(tmp, base / key)
    return f"../merged/{key}/fs"


def unpacked_dirs(root: Path | None = None) -> list[tuple[Path, int, float]]:
    """(dir, bytes, last use) of every unpacked layer, init layer and merged fallback, and of
    build dirs that a killed process left behind (an hour old: not one still being written)."""
    out: list[tuple[Path, int, float]] = []
    base = root or _root()
    stale = time.time() - 3600
    for kind in ("layers", "init", "merged"):
        d = base / kind
        for entry in sorted(d.iterdir()) if d.is_dir() else []:
            marker = entry / "complete"
            if entry.name.startswith(".build-"):
                used = entry.stat().st_mtime
                if used >= stale:
                    continue
            elif entry.name.startswith(".") or not marker.is_file():
                continue
            else:
                used = marker.stat().st_mtime
            size = sum(st.st_size for st in (os.lstat(os.path.join(dp, f)) for dp, _, fs in os.walk(entry) for f in fs))
            out.append((entry, size, used))
    return out


def prune_unpacked(older_than_days: float | None = None, root: Path | None = None) -> tuple[int, int]:
    return prune_unused(unpacked_dirs(root), older_than_days, shutil.rmtree)


def _touch(d: Path) -> None:
    try:
        os.utime(d / "complete")  # last use, for `cache prune --older-than`
    except OSError:
        pass


def prepare_rootfs(image: Image, tree: Tree, *, session: Session | None = None, userns: bool = False) -> Rootfs:
    """Lower dirs for running `image` (whose merged tree is `tree`), unpacked into the cache
    on first use and reused by every later run and image that shares the layers. With
    `userns`, a variant whose ids are shifted by USERNS_BASE."""
    shift = USERNS_BASE if userns else 0
    chains = chain_ids(image)
    key = hashlib.sha256(f"{FORMAT}|{shift}|{image.config_digest}|{'|'.join(chains or [str(l.digest) for l in image.layers])}"
                         .encode()).hexdigest()
    init_base = _root() / "init"
    if not (init_base / key / "complete").is_file():
        init_base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=init_base))
        _init_layer(tree, tmp / "fs", shift)
        (tmp / "complete").write_text("1\n")
        _publish(tmp, init_base / key)
    base = _root() / "layers"
    lowers = [f"../init/{key}/fs"]
    layer_dirs = [f"{_dir_name(c, shift)}/fs" for c in reversed(chains or [])]
    if chains is not None and len(":".join(lowers + layer_dirs)) < _MAX_MOUNT_DATA:
        _ensure_layers(image, chains, session or Session(limits=image.limits), shift)
        lowers += layer_dirs
    else:
        lowers.append(_merged(image, tree, key, shift))
    base.mkdir(parents=True, exist_ok=True)
    for lower in lowers:
        _touch((base / lower).parent)
    return Rootfs(base, tuple(lowers))
