"""The union Tree: layers applied in order to an empty root, per specs/unionfs.md R1-R24.

Each layer is applied in two phases: its whiteouts and opaque markers act on the lower state
first, then its other entries are applied in stream order. That is the spec's R6/R7 ("whiteouts
only hide lower layers ... regardless of the ordering"), independent of where the markers sit.
Paths are resolved through symlinks in-root (R12), hardlinks share an Inode (R11), and every
removal is recorded so deleted files stay listable with the layer that removed them.
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..errors import (
    DuplicateEntry,
    EntryLimitExceeded,
    InvalidHardlink,
    InvalidRootEntry,
    ParentNotDirectory,
    SizeLimitExceeded,
    SymlinkLoop,
)
from ..limits import Limits
from ..untrusted.paths import join_path, split_path
from .entry import Entry, EntryKind, Notice
from .gcpause import gc_paused
from .layer_index import LayerIndex

__all__ = ["Inode", "Node", "Removed", "Tree", "apply_layers"]


class Inode:
    """What a name points at. Hardlinked names share one Inode (R11)."""

    __slots__ = ("kind", "mode", "uid", "gid", "size", "mtime_ns", "sha256", "linkname", "xattrs",
                 "devmajor", "devminor", "layer", "offset", "id", "nlink")

    def __init__(self, entry: Entry | None, layer: int, ident: int = 0, kind: EntryKind | None = None) -> None:
        self.id = ident  # numbered per tree, in creation order: output stays deterministic
        self.nlink = 0
        self.layer = layer
        if entry is None:  # implied directory (R13) or the empty root
            self.kind = kind or EntryKind.DIR
            self.mode, self.uid, self.gid, self.size, self.mtime_ns = 0o755, 0, 0, 0, 0
            self.sha256, self.linkname, self.xattrs = None, "", None
            self.devmajor = self.devminor = 0
            self.offset = -1
            return
        self.kind = entry.kind
        self.mode = entry.mode
        self.uid = entry.uid
        self.gid = entry.gid
        self.size = entry.size
        self.mtime_ns = entry.mtime_ns
        self.sha256 = entry.sha256
        self.linkname = entry.linkname
        self.xattrs = entry.xattrs
        self.devmajor = entry.devmajor
        self.devminor = entry.devminor
        self.offset = entry.offset


class Node:
    """A name in the tree. `layer` is the layer that put this name here; `shadowed` holds the
    lower versions of the same path that this one replaced (most recent first)."""

    __slots__ = ("name", "path", "parent", "inode", "layer", "implied", "children", "shadowed")

    def __init__(self, name: str, path: str, parent: "Node | None", inode: Inode, layer: int, implied: bool = False) -> None:
        self.name = name
        self.path = path
        self.parent = parent
        self.inode = inode
        self.layer = layer
        self.implied = implied
        self.children: dict[str, Node] | None = {} if inode.kind is EntryKind.DIR else None
        self.shadowed: list[Node] | None = None
        inode.nlink += 1

    kind = property(lambda self: self.inode.kind)
    mode = property(lambda self: self.inode.mode)
    uid = property(lambda self: self.inode.uid)
    gid = property(lambda self: self.inode.gid)
    mtime_ns = property(lambda self: self.inode.mtime_ns)
    linkname = property(lambda self: self.inode.linkname if self.inode.kind is EntryKind.SYMLINK else "")
    devmajor = property(lambda self: self.inode.devmajor)
    devminor = property(lambda self: self.inode.devminor)
    inode_id = property(lambda self: self.inode.id)

    @property
    def size(self) -> int:
        return self.inode.size if self.inode.kind is EntryKind.FILE else 0

    @property
    def sha256(self) -> str | None:
        raw = self.inode.sha256
        return raw.hex() if raw is not None and self.inode.kind is EntryKind.FILE else None

    @property
    def xattrs(self) -> dict[str, bytes]:
        return dict(self.inode.xattrs) if self.inode.xattrs else {}

    def to_json(self) -> dict[str, Any]:
        """The `ls --format json` record (docs/formats/ls.md)."""
        inode = self.inode
        out: dict[str, Any] = {
            "path": self.path,
            "type": inode.kind.value,
            "mode": inode.mode,
            "uid": inode.uid,
            "gid": inode.gid,
            "size": self.size,
            "sha256": self.sha256,
            "linkname": self.linkname,
            "mtime": inode.mtime_ns // 1_000_000_000,
            "mtime_ns": inode.mtime_ns,
            "layer": self.layer,
        }
        if inode.kind in (EntryKind.CHAR, EntryKind.BLOCK):
            out["devmajor"] = inode.devmajor
            out["devminor"] = inode.devminor
        if inode.xattrs:
            out["xattrs"] = {k: base64.b64encode(v).decode("ascii") for k, v in sorted(inode.xattrs.items())}
        if inode.nlink > 1 and inode.kind is not EntryKind.DIR:
            out["nlink"] = inode.nlink
            out["inode"] = inode.id
        if self.implied:
            out["implied"] = True
        return out

    def snapshot(self) -> "Node":
        """A detached copy with the inode's state as it is now (for deletion records)."""
        copy = Node.__new__(Node)
        inode = Inode.__new__(Inode)
        for slot in Inode.__slots__:
            setattr(inode, slot, getattr(self.inode, slot))
        inode.nlink = max(inode.nlink, 1)
        copy.name, copy.path, copy.parent, copy.inode = self.name, self.path, None, inode
        copy.layer, copy.implied, copy.children, copy.shadowed = self.layer, self.implied, None, self.shadowed
        return copy

    def __repr__(self) -> str:
        return f"Node({self.path!r}, {self.inode.kind.value}, layer={self.layer})"


@dataclass(frozen=True, slots=True)
class Removed:
    """A lower entry that is no longer visible: `layer` removed it, for `reason`
    ('whiteout', 'opaque', 'replaced' or 'duplicate')."""

    path: str
    node: Node
    layer: int
    reason: str


class Tree:
    """The merged filesystem with provenance. Build it with `apply_layers` or `build_tree`."""

    def __init__(self, limits: Limits = Limits(), strict: bool = False) -> None:
        self.limits = limits
        self.strict = strict
        self._inodes = 0
        self.root = Node("", "", None, Inode(None, -1), -1)
        self._index: dict[str, Node] = {"": self.root}
        self._resolved: dict[str, Node] = {}  # paths reached through symlinks (see _resolve_dir)
        self.deleted: list[Removed] = []
        self.warnings: list[Notice] = []
        self.layers: list[LayerIndex] = []
        self._count = 0
        self._path_bytes = 0

    # -- queries -----------------------------------------------------------------------------
    def get(self, path: str) -> Node | None:
        """The node at exactly this path (no symlinks followed); '' or '/' is the root."""
        return self._index.get(path.strip("/"))

    def __len__(self) -> int:
        return len(self._index) - 1

    def by_path(self) -> dict[str, Node]:
        """Every visible node by path, the root left out: a copy of the tree's own map, much
        cheaper than a walk when order does not matter."""
        out = dict(self._index)
        del out[""]
        return out

    def walk(self, start: Node | None = None, include_start: bool = False) -> Iterator[Node]:
        """Visible nodes below `start` (default: root; itself only with include_start), depth
        first, parents before children, siblings sorted by name."""
        start = start or self.root
        stack: list[Node] = [start]
        while stack:
            node = stack.pop()
            if node is not start or (include_start and node is not self.root):
                yield node
            if node.children:
                stack.extend(node.children[name] for name in sorted(node.children, reverse=True))

    def resolve(self, path: str, follow_last: bool = True) -> Node | None:
        """Look up a path the way the image's own processes would: symlinks resolved in-root."""
        path = path.strip("/")
        if not path:
            return self.root
        parent_path, name = split_path(path)
        parent = self._resolve_dir(parent_path, create=False, layer=-1)
        if parent is None or parent.children is None:
            return None
        node = parent.children.get(name)
        if node is not None and follow_last and node.inode.kind is EntryKind.SYMLINK:
            return self._resolve_dir(join_path(parent.path, name), create=False, layer=-1, want_any=True)
        return node

    def removed_in(self, layer: int) -> list[Removed]:
        return [r for r in self.deleted if r.layer == layer]

    # -- application -------------------------------------------------------------------------
    def apply(self, index: LayerIndex) -> None:
        """Apply one layer on top of the current state (prefix-incremental, invariant 5)."""
        k = index.layer
        self.layers.append(index)
        for notice in index.notices:
            self.warnings.append(notice)
        entries = index.entries
        # Every whiteout and opaque marker is resolved against the lower state first, then all
        # are removed: the result cannot depend on the markers' order (invariant 12).
        victims: list[tuple[Node, str]] = []
        for entry in entries:
            if entry.kind is EntryKind.WHITEOUT:
                victim = self._whiteout_target(entry, k)
                if victim is not None:
                    victims.append((victim, "whiteout"))
            elif entry.kind is EntryKind.OPAQUE:
                victims += [(child, "opaque") for child in self._opaque_targets(entry, k)]
        for victim, reason in victims:
            if self._index.get(victim.path) is victim:  # not already gone with a removed parent
                self._remove(victim, k, reason)
        seen: set[str] = set()
        for entry in entries:
            if entry.kind is not EntryKind.WHITEOUT and entry.kind is not EntryKind.OPAQUE:
                self._add(entry, k, seen)
        for entry in entries:
            if entry.kind is EntryKind.WHITEOUT and entry.path in seen:
                # R6: a whiteout hides only lower layers; the layer's own entry stays.
                self._note("whiteout-same-layer", entry.path, k,
                           f"layer {k}: whiteout of {entry.path!r}, which the same layer also writes; the entry stays (R6)")

    def _inode(self, entry: Entry | None, layer: int) -> Inode:
        self._inodes += 1
        return Inode(entry, layer, self._inodes)

    def _note(self, code: str, path: str, layer: int, message: str) -> None:
        self.warnings.append(Notice(code, path, layer, message))

    def _resolve_dir(self, path: str, create: bool, layer: int, want_any: bool = False) -> Node | None:
        """Resolve `path` through symlinks in-root (R12). With `create`, missing parts become
        implied directories (R13) and a non-directory part is an error."""
        node = self._index.get(path)
        if node is not None and node.children is not None:
            return node
        cached = self._resolved.get(path)
        if cached is not None:
            return cached
        cur = self.root
        parts = deque(path.split("/")) if path else deque()
        hops = 0
        via_symlink = False
        while parts:
            name = parts.popleft()
            if name == "" or name == ".":
                continue
            if name == "..":
                cur = cur.parent or self.root
                continue
            assert cur.children is not None
            child = cur.children.get(name)
            if child is None:
                if not create:
                    return None
                child = self._insert(cur, name, self._inode(None, layer), layer, implied=True)
            elif child.inode.kind is EntryKind.SYMLINK:
                hops += 1
                if hops > self.limits.max_symlink_hops:
                    where = f"layer {layer}: " if layer >= 0 else ""
                    raise SymlinkLoop(
                        f"{where}resolving {path!r} took more than {self.limits.max_symlink_hops} symlink hops"
                    )
                target = child.inode.linkname
                if target.startswith("/"):
                    cur = self.root
                parts.extendleft(reversed(target.split("/")))
                via_symlink = True
                continue
            elif child.children is None:
                if want_any and not parts:
                    return child
                if create:
                    raise ParentNotDirectory(
                        f"layer {layer}: cannot create entries under {child.path!r}: it is a {child.inode.kind.value}, not a directory"
                    )
                return None
            cur = child
        if via_symlink and cur.children is not None:
            # Paths below a symlink miss the fast path; remember them until the tree's shape changes.
            self._resolved[path] = cur
        return cur

    def _insert(self, parent: Node, name: str, inode: Inode, layer: int, implied: bool = False) -> Node:
        self._count += 1
        if self._count > self.limits.max_entries_total:
            raise EntryLimitExceeded(f"layer {layer}: more than max_entries_total={self.limits.max_entries_total} entries")
        path = join_path(parent.path, name)
        self._path_bytes += len(path)
        if self._path_bytes > self.limits.max_tree_path_bytes:
            raise SizeLimitExceeded(
                f"layer {layer}: the merged tree's paths exceed max_tree_path_bytes={self.limits.max_tree_path_bytes} "
                f"bytes in all (at {path[:60]!r}…, {path.count('/') + 1} levels deep)")
        node = Node(name, path, parent, inode, layer, implied)
        if inode.kind is EntryKind.SYMLINK:
            self._resolved.clear()
        assert parent.children is not None
        parent.children[name] = node
        self._index[path] = node
        return node

    def _remove(self, node: Node, layer: int, reason: str) -> None:
        self._resolved.clear()
        parent = node.parent
        assert parent is not None and parent.children is not None
        del parent.children[node.name]
        stack = [node]
        while stack:  # O(subtree), never a rescan of the whole tree (R24)
            cur = stack.pop()
            self._index.pop(cur.path, None)
            cur.inode.nlink -= 1
            self._count -= 1
            self._path_bytes -= len(cur.path)
            # A snapshot: later layers may still change a surviving hardlink's shared inode.
            self.deleted.append(Removed(cur.path, cur.snapshot(), layer, reason))
            if cur.children:
                stack.extend(cur.children.values())

    def _whiteout_target(self, entry: Entry, layer: int) -> Node | None:
        parent_path, name = split_path(entry.path)
        parent = self._resolve_dir(parent_path, create=False, layer=layer)
        if parent is None or parent.children is None:
            return None  # R8: nothing to delete, and nothing is created
        return parent.children.get(name)

    def _opaque_targets(self, entry: Entry, layer: int) -> list[Node]:
        directory = self._resolve_dir(entry.path, create=False, layer=layer)
        if directory is None or not directory.children:
            return []
        return list(directory.children.values())

    def _add(self, entry: Entry, layer: int, seen: set[str]) -> None:
        if entry.path == "":
            # R14: a root entry may only change the root's attributes.
            if entry.kind is not EntryKind.DIR:
                raise InvalidRootEntry(
                    f"layer {layer}: entry {entry.raw_name or '.'!r} would replace the image root with a {entry.kind.value}"
                )
            self._merge_dir(self.root, entry, layer)
            return
        parent_path, name = split_path(entry.path)
        parent = self._resolve_dir(parent_path, create=True, layer=layer)
        assert parent is not None and parent.children is not None
        path = join_path(parent.path, name)
        duplicate = path in seen
        if duplicate:
            if self.strict:
                raise DuplicateEntry(f"layer {layer}: duplicate entry {path!r}")
            self._note("duplicate-entry", path, layer, f"layer {layer}: duplicate entry {path!r}; the last one wins")
        seen.add(path)
        existing = parent.children.get(name)
        if entry.kind is EntryKind.HARDLINK:
            target = self._link_target(entry, layer)
            if target is existing:
                self._note("hardlink-self", path, layer, f"layer {layer}: hardlink {path!r} points at itself")
                return
            inode = target.inode
            # Runtimes lchown (and, but for symlinks, chmod) the shared inode (R11): a later layer
            # can change a lower file's owner or mode without shipping it again. Never chmod a
            # symlink (CVE-2021-32760: chmod through a link reached a host file).
            new_mode = inode.mode if inode.kind is EntryKind.SYMLINK else entry.mode
            if (new_mode, entry.uid, entry.gid) != (inode.mode, inode.uid, inode.gid):
                self._note(
                    "hardlink-metadata",
                    path,
                    layer,
                    f"layer {layer}: hardlink {path!r} changes mode/owner of {target.path!r} "
                    f"from {inode.mode:o} {inode.uid}:{inode.gid} to {new_mode:o} {entry.uid}:{entry.gid}",
                )
                inode.mode, inode.uid, inode.gid = new_mode, entry.uid, entry.gid
            if existing is not None:
                self._remove(existing, layer, "duplicate" if duplicate else "replaced")
            node = self._insert(parent, name, inode, layer)
            if existing is not None:
                node.shadowed = [existing]
            return
        if entry.kind is EntryKind.DIR and existing is not None and existing.children is not None:
            self._merge_dir(existing, entry, layer)  # R4: attributes replaced, children kept
            return
        if existing is not None:
            self._remove(existing, layer, "duplicate" if duplicate else "replaced")
        node = self._insert(parent, name, self._inode(entry, layer), layer)
        if existing is not None:
            node.shadowed = [existing]

    def _merge_dir(self, node: Node, entry: Entry, layer: int) -> None:
        before = Node(node.name, node.path, None, node.inode, node.layer, node.implied)
        before.children = None
        node.inode.nlink -= 1
        node.inode = self._inode(entry, layer)
        node.inode.nlink += 1
        node.layer = layer
        node.implied = False
        node.shadowed = [before] + (node.shadowed or [])

    def _link_target(self, entry: Entry, layer: int) -> Node:
        target_path = entry.linkname
        if not target_path:
            raise InvalidHardlink(f"layer {layer}: hardlink {entry.path!r} points at the image root")
        parent_path, name = split_path(target_path)
        parent = self._resolve_dir(parent_path, create=False, layer=layer)
        target = parent.children.get(name) if parent is not None and parent.children is not None else None
        if target is None:
            raise InvalidHardlink(
                f"layer {layer}: hardlink {entry.path!r} -> {target_path!r}: target does not exist in this or a lower layer"
            )
        if target.children is not None:
            raise InvalidHardlink(f"layer {layer}: hardlink {entry.path!r} -> {target_path!r}: target is a directory")
        return target


@gc_paused
def apply_layers(indexes: Iterable[LayerIndex], limits: Limits = Limits(), strict: bool = False) -> Tree:
    """Union of layer indexes, applied in order to an empty root (R1). Pure: no I/O."""
    tree = Tree(limits, strict)
    for index in indexes:
        tree.apply(index)
    return tree
