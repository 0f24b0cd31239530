"""The merged filesystem, the primary view: per-path changes, every changed field, renames.

Works on two union Trees, so it stays right whatever the layer counts or boundaries are.
"""

from __future__ import annotations

import base64
from typing import Callable

from ...fs.entry import EntryKind
from ...fs.gcpause import gc_paused
from ...fs.tree import Inode, Node, Tree
from ..classify import is_noise_path
from ..difference import Cause, Change, FieldChange, Side

__all__ = ["compare_trees"]


def _groups(nodes: dict[str, Node]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for node in nodes.values():
        if node.inode.nlink > 1 and node.inode.kind is not EntryKind.DIR:
            out.setdefault(node.inode.id, []).append(node.path)
    return out


def _same(ia: Inode, ib: Inode) -> bool:
    """True when `_fields` would find nothing: every raw field equal, and neither side
    hardlinked (groups are compared by `_fields`). Raw equality implies equal derived values."""
    return (ia.sha256 == ib.sha256 and ia.mtime_ns == ib.mtime_ns and ia.size == ib.size and ia.mode == ib.mode
            and ia.kind is ib.kind and ia.uid == ib.uid and ia.gid == ib.gid and ia.linkname == ib.linkname
            and ia.nlink == 1 and ib.nlink == 1 and ia.devmajor == ib.devmajor and ia.devminor == ib.devminor
            and ia.xattrs == ib.xattrs) or (ia.kind is EntryKind.DIR and ib.kind is EntryKind.DIR and _same_dir(ia, ib))


def _same_dir(ia: Inode, ib: Inode) -> bool:
    # A directory's nlink counts its names only (one), and its size is never compared.
    return (ia.mtime_ns == ib.mtime_ns and ia.mode == ib.mode and ia.uid == ib.uid and ia.gid == ib.gid
            and ia.xattrs == ib.xattrs and (ia.devmajor, ia.devminor) == (ib.devmajor, ib.devminor))


def _xattr_text(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _fields(na: Node, nb: Node, links_a: list[str], links_b: list[str]) -> list[FieldChange]:
    ia, ib = na.inode, nb.inode
    out: list[FieldChange] = []
    if ia.kind is not ib.kind:
        out.append(FieldChange("type", ia.kind.value, ib.kind.value, Cause.CONTENT))
    if na.sha256 != nb.sha256 and ia.kind is EntryKind.FILE and ib.kind is EntryKind.FILE:
        out.append(FieldChange("sha256", na.sha256, nb.sha256, Cause.CONTENT))
    if na.size != nb.size:
        out.append(FieldChange("size", na.size, nb.size, Cause.CONTENT))
    # Symlink mode bits mean nothing on Linux (R10).
    if ia.mode != ib.mode and not (ia.kind is EntryKind.SYMLINK and ib.kind is EntryKind.SYMLINK):
        out.append(FieldChange("mode", ia.mode, ib.mode, Cause.CONTENT))
    if ia.uid != ib.uid:
        out.append(FieldChange("uid", ia.uid, ib.uid, Cause.CONTENT))
    if ia.gid != ib.gid:
        out.append(FieldChange("gid", ia.gid, ib.gid, Cause.CONTENT))
    if na.linkname != nb.linkname:
        out.append(FieldChange("linkname", na.linkname, nb.linkname, Cause.CONTENT))
    if (ia.devmajor, ia.devminor) != (ib.devmajor, ib.devminor):
        out.append(FieldChange("device", f"{ia.devmajor}:{ia.devminor}", f"{ib.devmajor}:{ib.devminor}", Cause.CONTENT))
    xa, xb = ia.xattrs or {}, ib.xattrs or {}
    for key in sorted(set(xa) | set(xb)):
        if xa.get(key) != xb.get(key):
            out.append(FieldChange(f"xattr:{key}", _xattr_text(xa[key]) if key in xa else None,
                                   _xattr_text(xb[key]) if key in xb else None, Cause.CONTENT))
    others_a = sorted(p for p in links_a if p != na.path)
    others_b = sorted(p for p in links_b if p != nb.path)
    if others_a != others_b:
        out.append(FieldChange("hardlinks", others_a, others_b, Cause.CONTENT))
    if ia.mtime_ns != ib.mtime_ns:
        out.append(FieldChange("mtime", ia.mtime_ns, ib.mtime_ns, Cause.TIMESTAMP))
    return out


def _cause(path: str, fields: list[FieldChange]) -> Cause:
    cause = max((f.cause for f in fields), key=lambda c: c.rank)
    if cause is Cause.CONTENT and is_noise_path(path):
        return Cause.NOISE
    return cause


def _presence(node: Node, side: str) -> list[FieldChange]:
    """The fields of an entry that exists on one side only."""
    values: list[tuple[str, object]] = [("type", node.kind.value), ("mode", node.mode), ("uid", node.uid), ("gid", node.gid)]
    if node.kind is EntryKind.FILE:
        values += [("size", node.size), ("sha256", node.sha256)]
    if node.linkname:
        values.append(("linkname", node.linkname))
    return [FieldChange(name, value if side == "a" else None, value if side == "b" else None, Cause.CONTENT)
            for name, value in values]


@gc_paused
def compare_trees(ta: Tree, tb: Tree, created_by_a: Callable[[int], str | None],
                  created_by_b: Callable[[int], str | None]) -> list[Change]:
    """Every path that differs between the merged trees, sorted by path."""
    nodes_a, nodes_b = ta.by_path(), tb.by_path()
    groups_a, groups_b = _groups(nodes_a), _groups(nodes_b)

    def side_a(n: Node) -> Side:
        return Side(n.layer, created_by_a(n.layer) if n.layer >= 0 else None)

    def side_b(n: Node) -> Side:
        return Side(n.layer, created_by_b(n.layer) if n.layer >= 0 else None)

    changes: list[Change] = []
    removed: list[Node] = []
    for path, na in nodes_a.items():
        nb = nodes_b.get(path)
        if nb is None:
            removed.append(na)
        elif not _same(na.inode, nb.inode):
            fields = _fields(na, nb, groups_a.get(na.inode.id, []), groups_b.get(nb.inode.id, []))
            if fields:
                changes.append(Change("file", path, "modified", _cause(path, fields), fields, side_a(na), side_b(nb)))
    added = sorted((nb for path, nb in nodes_b.items() if path not in nodes_a), key=lambda n: n.path)
    removed.sort(key=lambda n: n.path)
    # Renames: a removed and an added regular file with the same non-empty content. Pairs must
    # be unique from both sides (so diff(b, a) mirrors diff(a, b)): one of each per content, or
    # one of each per content and basename.
    def by_content(nodes: list[Node]) -> dict[str | None, list[Node]]:
        out: dict[str | None, list[Node]] = {}
        for node in nodes:
            if node.kind is EntryKind.FILE and node.size > 0:
                out.setdefault(node.sha256, []).append(node)
        return out

    rem_by, add_by = by_content(removed), by_content(added)
    pairs: dict[str, Node] = {}  # added path -> removed node
    for sha, adds in add_by.items():
        rems = rem_by.get(sha, [])
        if len(rems) == 1 and len(adds) == 1:
            pairs[adds[0].path] = rems[0]
            continue
        for name in {n.name for n in adds}:
            a_named = [n for n in adds if n.name == name]
            r_named = [n for n in rems if n.name == name]
            if len(a_named) == 1 and len(r_named) == 1:
                pairs[a_named[0].path] = r_named[0]
    renamed_from = {n.path for n in pairs.values()}
    for nb in added:
        src = pairs.get(nb.path)
        if src is not None:
            fields = [f for f in _fields(src, nb, groups_a.get(src.inode.id, []), groups_b.get(nb.inode.id, []))
                      if f.name not in ("hardlinks",)]
            fields.insert(0, FieldChange("path", src.path, nb.path, Cause.CONTENT))
            changes.append(Change("file", nb.path, "renamed", _cause(nb.path, fields), fields, side_a(src), side_b(nb),
                                  renamed_from=src.path))
        else:
            changes.append(Change("file", nb.path, "added", Cause.NOISE if is_noise_path(nb.path) else Cause.CONTENT,
                                  _presence(nb, "b"), None, side_b(nb)))
    for na in removed:
        if na.path in renamed_from:
            continue
        changes.append(Change("file", na.path, "removed", Cause.NOISE if is_noise_path(na.path) else Cause.CONTENT,
                              _presence(na, "a"), side_a(na), None))
    changes.sort(key=lambda c: c.path)
    return changes
