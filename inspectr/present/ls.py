"""`ls`: what a listing shows (one layer's entries, the removed entries, or the merged tree under
a path) and its records (docs/formats/ls.md), as terminal lines or a JSON array."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import PathNotFound
from ..fs.entry import Entry, EntryKind
from ..fs.tree import Node, Removed, Tree
from .json import dump_records
from .text import render_entries, render_nodes, render_removed

if TYPE_CHECKING:
    from .table import Target

__all__ = ["LayerListing", "DeletedListing", "TreeListing", "entry_record", "removed_record", "list_tree", "list_deleted",
           "list_layer", "present_layer_text", "present_layer_json", "present_deleted_text", "present_deleted_json",
           "present_tree_text", "present_tree_json"]


@dataclass(frozen=True)
class LayerListing:
    """The entries of layer `layer` as stored (whiteouts and hard links included), in tar order."""

    entries: Sequence[Entry]
    layer: int


@dataclass(frozen=True)
class DeletedListing:
    """Entries that lower layers had and later layers removed, by path and then removing layer."""

    removed: Sequence[Removed]


@dataclass(frozen=True)
class TreeListing:
    """The merged tree under a path, depth first; produced while it is written, so memory stays flat."""

    nodes: Iterator[Node]


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def list_layer(entries: Sequence[Entry], layer: int, prefix: str) -> LayerListing:
    """The layer's entries at or below `prefix` (no leading or trailing slash; "" for all)."""
    return LayerListing([e for e in entries if _under(e.path, prefix)], layer)


def list_deleted(tree: Tree, prefix: str) -> DeletedListing:
    return DeletedListing(sorted((r for r in tree.deleted if _under(r.path, prefix)), key=lambda r: (r.path, r.layer)))


def list_tree(tree: Tree, path: str) -> TreeListing:
    """The node at `path` and what is below it; symlinks in `path` are followed inside the image,
    and a dangling symlink is listed itself. Resolved before anything is written, so an error
    never leaves partial output. Raises PathNotFound."""
    if not path:
        return TreeListing(tree.walk())
    node = tree.resolve(path)
    if node is None:
        node = tree.resolve(path, follow_last=False)  # a dangling symlink is still listable
    if node is None:
        raise PathNotFound(f"{path}: no such path in the image")
    if not node.children:
        return TreeListing(iter([node]))
    return TreeListing(tree.walk(node, include_start=True))


def entry_record(e: Entry, layer: int) -> dict[str, Any]:
    """A layer record: the entry as stored in layer `layer`."""
    out: dict[str, Any] = {
        "path": e.path,
        "type": e.kind.value,
        "mode": e.mode,
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size if e.kind is EntryKind.FILE else 0,
        "sha256": e.sha256.hex() if e.sha256 is not None else None,
        "linkname": e.linkname,
        "mtime": e.mtime_ns // 1_000_000_000,
        "mtime_ns": e.mtime_ns,
        "layer": layer,
    }
    if e.kind in (EntryKind.CHAR, EntryKind.BLOCK):
        out["devmajor"], out["devminor"] = e.devmajor, e.devminor
    if e.xattrs:
        out["xattrs"] = {k: base64.b64encode(v).decode("ascii") for k, v in sorted(e.xattrs.items())}
    if e.raw_name is not None:
        out["raw_name"] = e.raw_name
    return out


def removed_record(r: Removed) -> dict[str, Any]:
    """A deleted record: the merged record of what was removed, with where and why."""
    record = r.node.to_json()
    record["path"] = r.path
    record["deleted_in"] = r.layer
    record["reason"] = r.reason
    return record


def present_layer_text(listing: LayerListing, to: Target) -> None:
    render_entries(listing.entries, listing.layer, to.out)


def present_layer_json(listing: LayerListing, to: Target) -> None:
    dump_records((entry_record(e, listing.layer) for e in listing.entries), to.out)


def present_deleted_text(listing: DeletedListing, to: Target) -> None:
    render_removed(listing.removed, to.out)


def present_deleted_json(listing: DeletedListing, to: Target) -> None:
    dump_records((removed_record(r) for r in listing.removed), to.out)


def present_tree_text(listing: TreeListing, to: Target) -> None:
    render_nodes(listing.nodes, to.out)


def present_tree_json(listing: TreeListing, to: Target) -> None:
    dump_records((n.to_json() for n in listing.nodes), to.out)
