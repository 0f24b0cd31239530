"""Materialise a Tree as a directory or a flat tar, safely.

Directory export writes only inside a fresh (new or empty) target, through directory file
descriptors opened with O_NOFOLLOW, creating every name with O_EXCL / mkdirat / symlinkat: no
path is ever resolved through a symlink, so nothing can be written outside the target
(CVE-2018-15664, CVE-2025-47290). Contents come from one batched pass per layer.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from ..errors import ExportError
from ..image import Image
from .content import content_sources, stream_contents
from .entry import EntryKind
from .tree import Inode, Node, Tree

__all__ = ["ExportOptions", "ExportReport", "export_dir", "export_tar"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Everything that gives the exported files power on the host is opt-in (unionfs.md §4)."""

    keep_special_bits: bool = False  # setuid/setgid (and security.capability) stripped unless asked
    xattrs: bool = False  # user.* (and security.* with keep_special_bits); never trusted.*/system.*
    ownership: bool = False  # lchown to the image's ids (needs root)
    devices: bool = False  # mknod char/block devices (needs root)
    id_shift: int = 0  # with ownership: write uid/gid + id_shift (for a user namespace that maps them back)


@dataclass(slots=True)
class ExportReport:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)


class _Dirs:
    """Directory fds by relative path, opened component by component with O_NOFOLLOW."""

    def __init__(self, root_fd: int) -> None:
        self._fds: dict[str, int] = {"": root_fd}

    def get(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is not None:
            return fd
        parent, _, name = path.rpartition("/")
        pfd = self.get(parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        self._fds[path] = fd
        return fd

    def close(self) -> None:
        for path, fd in self._fds.items():
            if path:
                os.close(fd)
        self._fds = {}


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent, name


def _selected(tree: Tree, only: set[str] | None) -> list[Node]:
    if only is None:
        return list(tree.walk())
    keep = set()
    for path in only:
        while path:
            keep.add(path)
            path = path.rpartition("/")[0]
    return [n for n in tree.walk() if n.path in keep]


def export_dir(image: Image, tree: Tree, target: str, options: ExportOptions = ExportOptions(),
               only: set[str] | None = None) -> ExportReport:
    """Write the tree (or only the paths in `only` and their parents) into `target`, created
    if missing and required to be empty. Raises ExportError."""
    report = ExportReport()
    is_root = os.geteuid() == 0
    if (options.ownership or options.devices) and not is_root:
        report.warnings.append("not running as root: ownership and device nodes cannot be restored")
    own = options.ownership and is_root
    devices = options.devices and is_root
    created = True
    try:
        os.mkdir(target, 0o700)
    except FileExistsError:
        created = False
        st = os.lstat(target)
        if not stat.S_ISDIR(st.st_mode):
            raise ExportError(f"{target}: exists and is not a directory") from None
        if os.listdir(target):
            raise ExportError(f"{target}: directory is not empty; export writes only into a new or empty directory")
    except OSError as err:
        raise ExportError(f"{target}: cannot create: {err.strerror}") from None
    root_fd = os.open(target, _DIR_FLAGS)
    dirs = _Dirs(root_fd)
    first_name: dict[int, str] = {}
    try:
        nodes = _selected(tree, only)
        for node in nodes:  # parents come before children
            _create(node, dirs, report, devices, first_name)
        open_files: dict[int, int] = {}

        def open_sink(inode: Inode) -> Callable[[bytes | memoryview], object]:
            parent, name = _split(first_name[inode.id])
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirs.get(parent))
            open_files[inode.id] = fd

            def write(data: bytes | memoryview) -> None:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                report.bytes += len(data)

            return write

        def close_sink(inode: Inode) -> None:
            os.close(open_files.pop(inode.id))

        wanted = content_sources({n.inode.id: n.inode for n in nodes}.values())
        stream_contents(image, wanted, open_sink, close_sink)
        # Metadata last, children before parents so directory modes cannot block writes.
        special = 0
        for node in reversed(nodes):
            special += _finish(node, dirs, options, own, report, first_name)
        _apply_root(tree.root, root_fd, options, own)
        if special:
            report.warnings.append(f"stripped setuid/setgid bits from {special} file(s); use --keep-special-bits to keep them")
        if not own and any(n.uid or n.gid for n in nodes):
            report.warnings.append("file ownership was not restored (use --same-owner, as root)")
    except BaseException as err:
        # A target is complete or absent (issue 20): a failure, Ctrl-C or SIGTERM takes back
        # what was written, so no half tree is mistaken for the image.
        dirs.close()
        os.close(root_fd)
        _discard(target, created)
        if isinstance(err, OSError):
            raise ExportError(f"{target}: export failed: {err.strerror} ({err.filename or ''})") from None
        if isinstance(err, OverflowError):
            raise ExportError(f"{target}: export failed: a value from the image is out of range ({err})") from None
        raise
    dirs.close()
    os.close(root_fd)
    return report


def _discard(target: str, created: bool) -> None:
    """Remove what an unfinished export wrote: the target itself if this run created it, else
    its contents. Directories whose image mode forbids access are opened up first."""
    try:
        if created:
            _rmtree(target)
            return
        for name in os.listdir(target):
            path = os.path.join(target, name)
            if os.path.isdir(path) and not os.path.islink(path):
                _rmtree(path)
            else:
                os.unlink(path)
    except OSError:
        pass  # best effort: the error being raised says what failed


def _rmtree(path: str) -> None:
    def unblock(func: Callable[..., object], failed: str, exc: BaseException) -> None:
        if not isinstance(exc, PermissionError):
            if isinstance(exc, FileNotFoundError):
                return
            raise exc
        # Listing a mode-000 directory fails on the directory; removing an entry, on its parent.
        os.chmod(failed if func in (os.open, os.scandir, os.listdir) else os.path.dirname(failed), 0o700)
        if func in (os.open, os.scandir, os.listdir):
            _rmtree(failed)
        else:
            func(failed)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=unblock)
    else:
        shutil.rmtree(path, onerror=lambda func, failed, info: unblock(func, failed, info[1]))


def _create(node: Node, dirs: _Dirs, report: ExportReport, devices: bool, first_name: dict[int, str]) -> None:
    parent, name = _split(node.path)
    pfd = dirs.get(parent)
    inode = node.inode
    kind = inode.kind
    if kind is EntryKind.DIR:
        os.mkdir(name, 0o700, dir_fd=pfd)
        report.dirs += 1
        return
    if kind in (EntryKind.CHAR, EntryKind.BLOCK) and not devices:
        report.warnings.append(f"{node.path}: device node not created (use --devices, as root)")
        return
    if inode.id in first_name:
        # A further name of an inode already created: a hardlink, never a copy (R11).
        p2, n2 = _split(first_name[inode.id])
        os.link(n2, name, src_dir_fd=dirs.get(p2), dst_dir_fd=pfd, follow_symlinks=False)
        report.hardlinks += 1
        return
    if kind is EntryKind.FILE:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        os.close(fd)
        report.files += 1
    elif kind is EntryKind.SYMLINK:
        os.symlink(inode.linkname, name, dir_fd=pfd)
        report.symlinks += 1
    else:
        kind_bits = {EntryKind.CHAR: stat.S_IFCHR, EntryKind.BLOCK: stat.S_IFBLK, EntryKind.FIFO: stat.S_IFIFO}[kind]
        os.mknod(name, kind_bits | 0o600, os.makedev(inode.devmajor, inode.devminor), dir_fd=pfd)
        report.devices += 1
    first_name[inode.id] = node.path


def _mode(inode: Inode, options: ExportOptions) -> tuple[int, bool]:
    mode = inode.mode & 0o7777
    if not options.keep_special_bits and inode.kind is not EntryKind.DIR and mode & 0o6000:
        return mode & ~0o6000, True
    return mode, False


def _finish(node: Node, dirs: _Dirs, options: ExportOptions, own: bool, report: ExportReport, first_name: dict[int, str]) -> int:
    inode = node.inode
    if first_name.get(inode.id, node.path) != node.path:
        return 0  # a hardlink: the first name carries the metadata
    if inode.kind in (EntryKind.CHAR, EntryKind.BLOCK) and inode.id not in first_name:
        return 0  # skipped device
    parent, name = _split(node.path)
    pfd = dirs.get(parent)
    stripped = 0
    if own:
        os.chown(name, inode.uid + options.id_shift, inode.gid + options.id_shift, dir_fd=pfd, follow_symlinks=False)
    if inode.kind is not EntryKind.SYMLINK:
        mode, was_stripped = _mode(inode, options)
        stripped = int(was_stripped)
        _chmod(name, pfd, inode.kind, mode)
        if options.xattrs and inode.xattrs:
            _set_xattrs(node, dirs, report, options)
    mtime = inode.mtime_ns
    os.utime(name, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)
    return stripped


def _chmod(name: str, pfd: int, kind: EntryKind, mode: int) -> None:
    """chmod without following a symlink: through an O_NOFOLLOW fd for files and dirs; device
    nodes are never opened (opening one can act on hardware), so they are lstat-checked."""
    if kind in (EntryKind.FILE, EntryKind.DIR):
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_DIRECTORY if kind is EntryKind.DIR else 0)
        fd = os.open(name, flags, dir_fd=pfd)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return
    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise ExportError(f"{name}: changed into a symlink during export")
    os.chmod(name, mode, dir_fd=pfd)


def _set_xattrs(node: Node, dirs: _Dirs, report: ExportReport, options: ExportOptions) -> None:
    parent, name = _split(node.path)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_DIRECTORY if node.kind is EntryKind.DIR else 0),
                 dir_fd=dirs.get(parent))
    try:
        for key, value in (node.inode.xattrs or {}).items():
            if key.startswith(("trusted.", "system.")):
                report.warnings.append(f"{node.path}: xattr {key} not set (never applied from images)")
                continue
            if key.startswith("security.") and not options.keep_special_bits:
                # security.capability is setuid-equivalent: it goes with --keep-special-bits.
                report.warnings.append(f"{node.path}: xattr {key} not set (use --keep-special-bits)")
                continue
            try:
                os.setxattr(fd, key, value)
            except OSError as err:
                report.warnings.append(f"{node.path}: xattr {key} not set: {err.strerror}")
    finally:
        os.close(fd)


def _apply_root(root: Node, root_fd: int, options: ExportOptions, own: bool) -> None:
    if root.layer < 0:
        os.chmod(root_fd, 0o755)
        return
    if own:
        os.fchown(root_fd, root.inode.uid + options.id_shift, root.inode.gid + options.id_shift)
    os.chmod(root_fd, root.inode.mode & 0o7777)


def export_tar(image: Image, tree: Tree, out: BinaryIO) -> ExportReport:
    """Write the merged tree as one flat PAX tar: directories, symlinks and special files first,
    then regular files in one pass per layer, then extra hardlink names."""
    report = ExportReport()
    nodes = list(tree.walk())
    first_name: dict[int, str] = {}
    later_links: list[Node] = []

    def header(node: Node, kind: EntryKind, size: int = 0, link: str = "") -> bytes:
        inode = node.inode
        info = tarfile.TarInfo(node.path + ("/" if kind is EntryKind.DIR else ""))
        info.type = {
            EntryKind.FILE: tarfile.REGTYPE, EntryKind.DIR: tarfile.DIRTYPE, EntryKind.SYMLINK: tarfile.SYMTYPE,
            EntryKind.HARDLINK: tarfile.LNKTYPE, EntryKind.CHAR: tarfile.CHRTYPE, EntryKind.BLOCK: tarfile.BLKTYPE,
            EntryKind.FIFO: tarfile.FIFOTYPE,
        }[kind]
        info.mode, info.uid, info.gid = inode.mode & 0o7777, inode.uid, inode.gid
        info.size = size
        info.mtime = inode.mtime_ns // 1_000_000_000
        info.linkname = link
        info.devmajor, info.devminor = inode.devmajor, inode.devminor
        if inode.xattrs:
            # trusted.* would be applied by a root extractor (R16): never passed on.
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                                for k, v in inode.xattrs.items() if not k.startswith("trusted.")}
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    for node in nodes:
        inode = node.inode
        if inode.kind is EntryKind.FILE:
            if inode.id in first_name:
                later_links.append(node)
            else:
                first_name[inode.id] = node.path
            continue
        if inode.id in first_name and inode.kind is not EntryKind.DIR:
            later_links.append(node)
            continue
        first_name[inode.id] = node.path
        out.write(header(node, inode.kind, link=inode.linkname if inode.kind is EntryKind.SYMLINK else ""))
        report.dirs += inode.kind is EntryKind.DIR
        report.symlinks += inode.kind is EntryKind.SYMLINK
        report.devices += inode.kind in (EntryKind.CHAR, EntryKind.BLOCK, EntryKind.FIFO)

    by_id = {n.inode.id: n for n in nodes if first_name.get(n.inode.id) == n.path}
    pending_pad: dict[int, int] = {}

    def open_sink(inode: Inode) -> Callable[[bytes | memoryview], object]:
        out.write(header(by_id[inode.id], EntryKind.FILE, size=inode.size))
        pending_pad[inode.id] = inode.size

        def write(data: bytes | memoryview) -> None:
            out.write(data)
            report.bytes += len(data)

        return write

    def close_sink(inode: Inode) -> None:
        size = pending_pad.pop(inode.id)
        out.write(bytes(-size % 512))
        report.files += 1

    stream_contents(image, content_sources(n.inode for n in by_id.values()), open_sink, close_sink)
    for node in later_links:
        out.write(header(node, EntryKind.HARDLINK, link=first_name[node.inode.id]))
        report.hardlinks += 1
    out.write(bytes(1024))
    out.flush()
    return report
