"""Files checked against the digests their package databases record: dpkg md5sums and conffile
md5s, apk SHA-1 checksums, rpm file digests and Python RECORD hashes. "The hash changed but the
version did not" is the strongest tampering signal an image carries.

sha256 records are compared with the digest the verified indexing pass already holds; other
algorithms need the files' bytes, read in one batched pass per layer that holds any of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..fs.build import index_layers
from ..fs.content import DigestJob, digest_contents
from ..fs.entry import EntryKind
from ..fs.tree import Node, Tree, apply_layers
from ..image import Image
from ..package import Package, PackageFile
from ..inventory_model import Inventory
from ..session import Session
from .inventory import read_inventory

__all__ = ["FileMismatch", "IntegrityResult", "check_package_files", "unowned_system_files", "check_image"]

_SYSTEM_DBS = ("deb", "rpm", "apk")
_HASHLIB = {"md5": "md5", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


@dataclass(frozen=True, slots=True)
class FileMismatch:
    """A file whose bytes disagree with its package's record. `layer` is the layer whose copy
    the merged tree shows: the one that changed it."""

    path: str
    package: Package
    recorded: str
    actual: str
    layer: int
    conffile: bool


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    mismatches: tuple[FileMismatch, ...]
    checked: int  # files compared with a recorded digest
    missing: int  # files a package records a digest for that the image does not hold (path-excluded docs, …)
    not_regular: int  # recorded as a file, found as something else (a symlink, a directory)


def _targets(tree: Tree, packages: Iterable[Package]) -> list[tuple[Package, PackageFile, Node | None]]:
    out = []
    for pkg in packages:
        for f in pkg.files:
            if f.algorithm in _HASHLIB and f.hexdigest:
                out.append((pkg, f, tree.resolve(f.path, follow_last=False)))
    return out


def check_package_files(image: Image, tree: Tree, packages: Iterable[Package], *, session: Session) -> IntegrityResult:
    targets = _targets(tree, packages)
    wanted: dict[int, dict[int, tuple[set[str], bytes | None]]] = {}
    checked = missing = not_regular = 0
    for _, f, node in targets:
        if node is not None and node.kind is EntryKind.FILE and f.algorithm != "sha256":
            slot = wanted.setdefault(node.inode.layer, {}).setdefault(node.inode.offset, (set(), node.inode.sha256))
            slot[0].add(_HASHLIB[f.algorithm])
    jobs: list[DigestJob] = [
        (image.layers[layer], image.limits,
         {offset: (tuple(sorted(algos)), sha256) for offset, (algos, sha256) in members.items()})
        for layer, members in sorted(wanted.items())]
    results = digest_contents(jobs, session=session)
    digests = {(job[0].index, offset): d for job, result in zip(jobs, results) for offset, d in result.items()}
    mismatches = []
    confirmed: set[str] = set()  # paths a system database's record matched
    for pkg, f, node in targets:
        if node is None:
            missing += 1
            continue
        if node.kind is not EntryKind.FILE:
            not_regular += 1
            continue
        if f.algorithm == "sha256":
            actual = node.inode.sha256.hex() if node.inode.sha256 is not None else ""
        else:
            actual = digests.get((node.inode.layer, node.inode.offset), {}).get(_HASHLIB[f.algorithm], "")
        checked += 1
        if actual.lower() != f.hexdigest.lower():
            mismatches.append(FileMismatch(node.path, pkg, f.digest, f"{f.algorithm}:{actual}", node.inode.layer,
                                           f.conffile))
        elif pkg.ecosystem in _SYSTEM_DBS:
            confirmed.add(node.path)
    # A distribution builds its Python packages' RECORD before it strips their .so files (Debian's
    # dh_python, then dh_strip): where the system database's own record matches the file, a
    # language record that does not is the packaging's, not a change to the image.
    mismatches = [m for m in mismatches if m.package.ecosystem in _SYSTEM_DBS or m.path not in confirmed]
    mismatches.sort(key=lambda m: (m.path, m.package.name))
    return IntegrityResult(tuple(mismatches), checked, missing, not_regular)


# Where a file no package owns is worth a look: executables in any bin, sbin or libexec
# directory, and any file among the system's own binaries and libraries. Files that maintainer
# scripts and triggers generate (caches, compiled bytecode) are left out.
_EXEC_DIRS = re.compile(r"(?:^|/)(?:s?bin|libexec)/")
_SYSTEM = re.compile(r"^(?:usr/)?(?:s?bin|lib(?:32|64|x32)?|libexec)/")
_GENERATED = re.compile(r"(?:/__pycache__/|\.pyc\Z|/gconv-modules\.cache\Z|/locale-archive\Z|/ld\.so\.cache\Z|"
                        r"/giomodule\.cache\Z|/loaders\.cache\Z|/mime/|/icon-theme\.cache\Z|\.dpkg-(?:new|old|dist)\Z)")


def unowned_system_files(tree: Tree, owned: set[str]) -> list[tuple[Node, bool]]:
    """(node, is an executable) for each regular file that no package lists: executables under
    any bin, sbin or libexec, and other files under bin, sbin and lib (also below usr)."""
    out = []
    for node in tree.walk():
        if node.kind is not EntryKind.FILE or node.path in owned or node.path.startswith(("var/lib/dpkg/", "lib/apk/")):
            continue
        executable = bool(node.mode & 0o111) and _EXEC_DIRS.search(node.path) is not None
        if (executable or _SYSTEM.match(node.path)) and not _GENERATED.search(node.path):
            out.append((node, executable))
    return out


def check_image(image: Image, *, session: Session) -> tuple[Inventory, IntegrityResult]:
    """Index (or take the run's verified indexes), merge, inventory and check one image."""

    indexes = index_layers(image, session=session)
    tree = apply_layers(indexes, image.limits)
    inventory = read_inventory(image, indexes, tree)
    return inventory, check_package_files(image, tree, inventory.packages, session=session)
