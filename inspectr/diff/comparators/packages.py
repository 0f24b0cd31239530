"""The package view of a diff: packages added, removed, upgraded and downgraded, and every
changed file tied to the package that owns it on each side. A file that changed while no
package behind it changed is the suspicious kind; those are marked, so reports list them first."""

from __future__ import annotations

from ...inventory_model import Inventory
from ...fs.tree import Tree
from ...package import Package
from ...packages.inventory import owned_paths
from ...packages.versions import compare_versions
from ..difference import Cause, Change, FieldChange, Side

__all__ = ["compare_packages", "attribute_files", "package_label"]


def package_label(p: Package) -> str:
    return f"{p.name} {p.version}".strip()


def _path(p: Package) -> str:
    head = f"{p.ecosystem}:{p.name}" + (f":{p.arch}" if p.arch and p.ecosystem in ("deb", "rpm", "apk") else "")
    return head + (f"@{p.location}" if p.ecosystem in ("python", "npm", "go", "maven") and p.location else "")


def _side(p: Package, created_by: dict[int, str | None]) -> Side:
    return Side(p.layer, created_by.get(p.layer) if p.layer is not None else None)


def compare_packages(a: Inventory, b: Inventory) -> list[Change]:
    """One Change per package that differs, subject `package`, cause content."""
    by_a = {p.key: p for p in a.packages}
    by_b = {p.key: p for p in b.packages}
    cb_a = {info.index: info.created_by for info in a.layers}
    cb_b = {info.index: info.created_by for info in b.layers}
    out = []
    for key in sorted(set(by_a) | set(by_b)):
        pa, pb = by_a.get(key), by_b.get(key)
        if pa is not None and pb is not None:
            if pa.version == pb.version:
                continue
            order = compare_versions(pa.ecosystem, pa.version, pb.version)
            kind = "upgraded" if order < 0 else "downgraded" if order > 0 else "modified"
            out.append(Change("package", _path(pa), kind, Cause.CONTENT,
                              [FieldChange("version", pa.version, pb.version, Cause.CONTENT)],
                              _side(pa, cb_a), _side(pb, cb_b),
                              paths=sorted({f.path for f in pa.files} ^ {f.path for f in pb.files})[:200] or None))
        elif pb is not None:
            out.append(Change("package", _path(pb), "added", Cause.CONTENT,
                              [FieldChange("version", None, pb.version, Cause.CONTENT)], None, _side(pb, cb_b),
                              paths=sorted(f.path for f in pb.files) or None))
        elif pa is not None:
            out.append(Change("package", _path(pa), "removed", Cause.CONTENT,
                              [FieldChange("version", pa.version, None, Cause.CONTENT)], _side(pa, cb_a), None,
                              paths=sorted(f.path for f in pa.files) or None))
    return out


_DB_FILES = ("var/lib/dpkg/status", "lib/apk/db/installed", "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")


def attribute_files(changes: list[Change], a: Inventory, b: Inventory, tree_a: Tree, tree_b: Tree) -> None:
    """Set each file change's owners ("name version" on each side) and whether a package change
    explains it. A file a package owns is explained when that package was added, removed or
    changed version. A file no package owns (a package database's own files, what maintainer
    scripts write: alternatives, caches) is explained when B's copy comes from a layer that
    changed packages, or, for a removed file, when a package was removed."""
    owners_a = owned_paths(tree_a, a.packages)
    owners_b = owned_paths(tree_b, b.packages)
    versions_a = {p.key: p.version for p in a.packages}
    versions_b = {p.key: p.version for p in b.packages}
    changed_layers = {p.layer for p in b.packages if versions_a.get(p.key) != p.version and p.layer is not None}
    removed = any(key not in versions_b for key in versions_a)
    if removed:  # the layer that rewrote the database removed them
        changed_layers |= {node.layer for node in map(tree_b.get, _DB_FILES) if node is not None}
    for c in changes:
        if c.subject != "file":
            continue
        oa = owners_a.get(c.renamed_from or c.path) if c.change != "added" else None
        ob = owners_b.get(c.path) if c.change != "removed" else None
        c.owners = (package_label(oa) if oa else None, package_label(ob) if ob else None)
        if oa is not None or ob is not None:
            c.explained = any(p is not None and versions_a.get(p.key) != versions_b.get(p.key) for p in (oa, ob))
        elif c.b is not None:
            c.explained = c.b.layer in changed_layers
        else:
            c.explained = removed
