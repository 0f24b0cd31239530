"""The package inventory of one image, from the evidence its layer indexes kept in the indexing
pass (no layer is read again): dpkg, apk, rpm, Python, npm, Go binaries and jars.

Which layer installed or last changed a package: for a database that is one file for all
packages (dpkg status, apk installed, rpmdb), every layer's copy of it is parsed in order, and
the package's layer is the last one whose copy changed that package's version or architecture
(dpkg's info/<pkg>.list, rewritten on every install, counts too). For evidence that is one
file per package (a dist-info, a package.json, a binary, a jar), it is the layer of that file."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from ..fs.build import index_layers
from ..fs.entry import EntryKind
from ..fs.layer_index import LayerIndex
from ..fs.tree import Tree, apply_layers
from ..image import Image
from ..inventory_model import Inventory, LayerInfo
from ..notice import Notice
from ..package import Package, PackageFile
from ..session import Session
from ..untrusted.gobuild import parse_go_buildinfo
from ..untrusted.pkgdb import (
    PackageDbError,
    parse_apk_installed,
    parse_dpkg_diversions,
    parse_dpkg_list,
    parse_dpkg_md5sums,
    parse_dpkg_status,
    parse_npm_lock,
    parse_npm_package,
    parse_python_metadata,
    parse_python_record,
)
from ..untrusted.secrets import redact_secrets
from ..untrusted.rpmdb import RpmDbUnsupported, parse_rpmdb

__all__ = ["read_inventory", "image_inventory", "owned_paths", "owned_hashes"]

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_DIVERSIONS = "var/lib/dpkg/diversions"
APK_DB = "lib/apk/db/installed"
RPM_DBS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_OLD = ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages", "var/lib/rpm/Packages.db",
           "usr/lib/sysimage/rpm/Packages.db")

class _Reader:
    """Collects the evidence of all layers and turns parser failures into notices."""

    def __init__(self, indexes: Sequence[LayerIndex], tree: Tree) -> None:
        self.notices: list[Notice] = []
        self.by_layer: list[dict[str, tuple[str, int, bytes]]] = [
            {path: (kind, offset, data) for kind, path, offset, data in index.evidence} for index in indexes]
        # The evidence the merged tree shows: the member a path resolves to in the final tree.
        self.final: dict[str, tuple[str, int, bytes]] = {}
        for layer, found in enumerate(self.by_layer):
            for path, (kind, offset, data) in found.items():
                node = tree.get(path)
                if node is not None and node.kind is EntryKind.FILE and node.inode.layer == layer \
                        and node.inode.offset == offset:
                    self.final[path] = (kind, layer, data)
        for index in indexes:  # what the indexing pass could not keep or read as evidence
            for notice in index.notices:
                if notice.code.startswith(("package-", "go-buildinfo-", "jar-", "rpmdb-")):
                    self.notices.append(notice)

    def parse(self, path: str, layer: int | None, parser: Callable[[], list[Package]]) -> list[Package]:
        try:
            return parser()
        except PackageDbError as err:
            self.notices.append(Notice("package-db-unreadable", path, layer, f"{path}: {err}"))
            return []

    def history(self, path: str) -> list[tuple[int, bytes]]:
        """Every layer's copy of PATH, bottom up, up to the copy the merged tree shows."""
        final = self.final.get(path)
        if final is None:
            return []
        return [(layer, found[path][2]) for layer, found in enumerate(self.by_layer[: final[1] + 1]) if path in found]


def _layer_by_history(reader: _Reader, path: str, parse: Callable[[bytes], list[Package]]) -> dict[tuple[str, str], int]:
    """(name, arch) → the last layer whose copy of a one-file database changed that package.
    A copy that cannot be parsed is passed over: the packages it changed are then dated to the
    next readable copy."""
    changed: dict[tuple[str, str], int] = {}
    state: dict[tuple[str, str], str] = {}
    for layer, data in reader.history(path):
        try:
            packages = parse(data)
        except (PackageDbError, RpmDbUnsupported):
            continue
        now = {(p.name, p.arch): p.version for p in packages}
        for key, version in now.items():
            if state.get(key) != version:
                changed[key] = layer
        state = now
    return changed


def _diversions(reader: _Reader) -> dict[str, tuple[str, str]]:
    found = reader.final.get(DPKG_DIVERSIONS)
    if found is None:
        return {}
    try:
        return parse_dpkg_diversions(found[2], DPKG_DIVERSIONS)
    except PackageDbError as err:
        reader.notices.append(Notice("package-db-unreadable", DPKG_DIVERSIONS, found[1], str(err)))
        return {}


def _dpkg(reader: _Reader) -> list[Package]:
    out: list[Package] = []
    diverted = _diversions(reader)
    if DPKG_STATUS in reader.final:
        _, layer, data = reader.final[DPKG_STATUS]
        try:
            stanzas = parse_dpkg_status(data, DPKG_STATUS)
        except PackageDbError as err:
            reader.notices.append(Notice("package-db-unreadable", DPKG_STATUS, layer, f"{DPKG_STATUS}: {err}"))
            stanzas = []
        layers = _layer_by_history(reader, DPKG_STATUS,
                                   lambda b: [s.package for s in parse_dpkg_status(b, DPKG_STATUS)])
        for stanza in stanzas:
            out.append(_dpkg_files(reader, stanza.package, dict(stanza.conffiles), "var/lib/dpkg/info",
                                   layers.get((stanza.package.name, stanza.package.arch), layer), diverted=diverted))
    # distroless: one stanza file per package in status.d, beside an optional <name>.md5sums
    for path, (kind, layer, data) in sorted(reader.final.items()):
        if not path.startswith("var/lib/dpkg/status.d/") or path.endswith(".md5sums"):
            continue
        try:
            stanzas = parse_dpkg_status(data, path, require_status=False)
        except PackageDbError as err:
            reader.notices.append(Notice("package-db-unreadable", path, layer, f"{path}: {err}"))
            continue
        for stanza in stanzas:
            out.append(_dpkg_files(reader, stanza.package, dict(stanza.conffiles), "var/lib/dpkg/status.d", layer,
                                   md5sums=path + ".md5sums", diverted=diverted))
    return out


def _dpkg_files(reader: _Reader, pkg: Package, conffiles: dict[str, str], info: str, layer: int,
                md5sums: str | None = None, diverted: dict[str, tuple[str, str]] | None = None) -> Package:
    names = [f"{pkg.name}:{pkg.arch}", pkg.name] if pkg.arch else [pkg.name]
    listed: list[str] = []
    sums: dict[str, str] = {}
    for name in names:
        found = reader.final.get(f"var/lib/dpkg/info/{name}.list")
        if found is not None:
            try:
                listed = parse_dpkg_list(found[2], f"var/lib/dpkg/info/{name}.list")
            except PackageDbError as err:
                reader.notices.append(Notice("package-db-unreadable", f"var/lib/dpkg/info/{name}.list", found[1], str(err)))
            layer = max(layer, found[1])
            break
    for candidate in ([md5sums] if md5sums else []) + [f"var/lib/dpkg/info/{n}.md5sums" for n in names]:
        found = reader.final.get(candidate)
        if found is not None:
            try:
                sums = parse_dpkg_md5sums(found[2], candidate)
            except PackageDbError as err:
                reader.notices.append(Notice("package-db-unreadable", candidate, found[1], str(err)))
            break
    paths = listed or sorted(set(sums) | set(conffiles))
    files = []
    for path in paths:
        # dpkg-divert: another package's (or the admin's) file stands at this path; this
        # package's own copy was put where the diversion says
        where = path
        if diverted and path in diverted and diverted[path][1] != pkg.name:
            where = diverted[path][0]
        if path in conffiles:
            files.append(PackageFile(where, f"md5:{conffiles[path]}", conffile=True))
        elif path in sums:
            files.append(PackageFile(where, f"md5:{sums[path]}"))
        else:
            files.append(PackageFile(where))
    return replace(pkg, layer=layer, files=tuple(files))


def _one_file_db(reader: _Reader, path: str, parse: Callable[[bytes], list[Package]]) -> list[Package]:
    kind, layer, data = reader.final[path]
    packages = reader.parse(path, layer, lambda: parse(data))
    layers = _layer_by_history(reader, path, parse)
    return [p.with_layer(layers.get((p.name, p.arch), layer)) for p in packages]


def _python(reader: _Reader) -> list[Package]:
    out = []
    for path, (kind, layer, data) in sorted(reader.final.items()):
        if not path.endswith(("/METADATA", "/PKG-INFO")):
            continue
        meta_dir = path.rsplit("/", 1)[0]
        pkg = reader.parse(path, layer, lambda: [p for p in [parse_python_metadata(data, path)] if p is not None])
        if not pkg:
            continue
        files: tuple[PackageFile, ...] = ()
        record = reader.final.get(f"{meta_dir}/RECORD")
        if record is not None:
            site = meta_dir.rsplit("/", 1)[0] if "/" in meta_dir else ""
            try:
                files = tuple(parse_python_record(record[2], site, f"{meta_dir}/RECORD"))
            except PackageDbError as err:
                reader.notices.append(Notice("package-db-unreadable", f"{meta_dir}/RECORD", record[1], str(err)))
        out.append(replace(pkg[0], layer=layer, files=files))
    return out


def _npm(reader: _Reader, tree: Tree) -> list[Package]:
    out: list[Package] = []
    installed: set[str] = set()
    for path, (kind, layer, data) in sorted(reader.final.items()):
        if path.endswith("/package.json") and "node_modules/" in path:
            found = reader.parse(path, layer, lambda: [p for p in [parse_npm_package(data, path)] if p is not None])
            if found:
                pkg_dir = path.rsplit("/", 1)[0]
                node = tree.get(pkg_dir)
                files = tuple(PackageFile(n.path) for n in tree.walk(node)) if node is not None else ()
                out.append(replace(found[0], location=pkg_dir, layer=layer, files=files))
                installed.add(pkg_dir)
    for path, (kind, layer, data) in sorted(reader.final.items()):
        if path.endswith("package-lock.json"):
            for pkg in reader.parse(path, layer, lambda: parse_npm_lock(data, path)):
                if pkg.location not in installed:  # declared by the lockfile, not in node_modules
                    installed.add(pkg.location)
                    out.append(replace(pkg, layer=layer, source="lockfile:" + path))
    return out


def _binaries(reader: _Reader) -> list[Package]:
    out: list[Package] = []
    for path, (kind, layer, data) in sorted(reader.final.items()):
        if kind == "go":
            out += [p.with_layer(layer) for p in reader.parse(path, layer, lambda: parse_go_buildinfo(data, path))]
        elif kind == "maven":  # read_jar's packages, kept by the indexing pass (fs/layer_index.py)
            out += [Package("maven", name, version, location=location, layer=layer, parent=parent)
                    for name, version, location, parent in json.loads(data)]
    return out


def read_inventory(image: Image, indexes: Sequence[LayerIndex], tree: Tree, *, file_hashes: bool = False) -> Inventory:
    """Every package the image's databases, binaries and jars name, with its files and layer;
    with `file_hashes`, the verified sha256 of every file they own (what SBOMs list)."""
    reader = _Reader(indexes, tree)
    packages: list[Package] = _dpkg(reader)
    if APK_DB in reader.final:
        packages += _one_file_db(reader, APK_DB, lambda b: parse_apk_installed(b, APK_DB))
    for path in RPM_DBS:
        if path in reader.final:
            packages += _rpm(reader, path)
    for path in RPM_OLD:
        if path in reader.final:
            reader.notices.append(Notice("rpmdb-unsupported-format", path, reader.final[path][1],
                                         f"{path}: an rpm database in the BerkeleyDB or ndb format, which inspectr "
                                         "does not read (rpm 4.16 and later write rpmdb.sqlite); its packages are not listed"))
    packages += _python(reader)
    packages += _npm(reader, tree)
    packages += _binaries(reader)
    packages.sort(key=lambda p: (p.ecosystem, p.name, p.arch, p.location, p.version))
    return Inventory(
        reference=image.reference,
        image_digest=str(image.manifest_digest or image.entry_digest or ""),
        config_digest=str(image.config_digest),
        layers=tuple(LayerInfo(i, str(ref.digest or ""), str(ref.diff_id or ""),
                               redact_secrets(ref.history.created_by) if ref.history and ref.history.created_by else None)
                     for i, ref in enumerate(image.layers)),
        packages=tuple(packages),
        notices=tuple(reader.notices),
        file_hashes=owned_hashes(tree, packages) if file_hashes else {},
        created=image.config.created,
    )


def _rpm(reader: _Reader, path: str) -> list[Package]:
    try:
        return _one_file_db(reader, path, lambda b: parse_rpmdb(b, path))
    except RpmDbUnsupported as err:
        reader.notices.append(Notice("rpmdb-unsupported-format", path, reader.final[path][1], f"{path}: {err}"))
        return []


def owned_paths(tree: Tree, packages: Iterable[Package]) -> dict[str, Package]:
    """Tree path → the package that owns it. Names are resolved in the root, so /bin/ls listed
    by a package is found at usr/bin/ls in a merged-/usr image."""
    out: dict[str, Package] = {}
    for pkg in packages:
        for f in pkg.files:
            out.setdefault(f.path, pkg)
            node = tree.resolve(f.path, follow_last=False)
            if node is not None:
                out.setdefault(node.path, pkg)
    return out


def owned_hashes(tree: Tree, packages: Iterable[Package]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pkg in packages:
        for f in pkg.files:
            node = tree.resolve(f.path, follow_last=True)
            if node is not None and node.kind is EntryKind.FILE and node.inode.sha256 is not None:
                out[f.path] = "sha256:" + node.inode.sha256.hex()
    return out


def image_inventory(image: Image, *, session: Session, file_hashes: bool = False) -> Inventory:
    """Index (or take the run's verified indexes), merge and inventory one image."""
    indexes = index_layers(image, session=session)
    return read_inventory(image, indexes, apply_layers(indexes, image.limits), file_hashes=file_hashes)
