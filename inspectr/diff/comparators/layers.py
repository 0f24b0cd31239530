"""Layers: pairing when the lists line up, and content hidden below the merged view.

File-level differences are the merged-filesystem comparison's job; this module reports only
what that view cannot show: compression-only changes, tar order/format changes, a different
split into layers, and bytes that are in one image's layers but hidden (deleted or shadowed).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from ...fs.entry import Entry, EntryKind
from ...fs.layer_index import LayerIndex
from ...fs.tree import Tree
from ...image import Image
from ..difference import Cause, Change, FieldChange, Side

__all__ = ["compare_layers", "compare_hidden_content"]


_EntryKey = tuple[str, EntryKind, int, int, int, int, bytes | None, str, tuple[tuple[str, bytes], ...], int, int]


def _entry_key(e: Entry) -> _EntryKey:
    return (e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.sha256, e.linkname,
            tuple(sorted((e.xattrs or {}).items())), e.devmajor, e.devminor)


def compare_layers(a: Image, b: Image, ia: list[LayerIndex], ib: list[LayerIndex],
                   changed_paths: set[str] | frozenset[str] = frozenset()) -> list[Change]:
    """Layer-level differences the merged view cannot show. `changed_paths` are the paths the
    merged-filesystem comparison reports; entries that differ only elsewhere moved between
    layers (same files, other boundaries)."""
    out: list[Change] = []
    if len(ia) != len(ib):
        out.append(Change("layer", "layers", "modified", Cause.LAYER_BOUNDARIES,
                          [FieldChange("count", len(ia), len(ib), Cause.LAYER_BOUNDARIES)],
                          note="layer counts differ; the merged filesystem is compared instead"))
        return out
    for i, (la, lb) in enumerate(zip(ia, ib)):
        ra, rb = a.layers[i], b.layers[i]
        same_digest = ra.digest is not None and ra.digest == rb.digest
        if same_digest or la.diff_id == lb.diff_id:
            if not same_digest and (ra.digest is not None or rb.digest is not None):
                out.append(Change("layer", f"layers[{i}]", "modified", Cause.COMPRESSION, [
                    FieldChange("digest", str(ra.digest) if ra.digest else None, str(rb.digest) if rb.digest else None, Cause.COMPRESSION),
                    FieldChange("compression", la.compression, lb.compression, Cause.COMPRESSION),
                    FieldChange("size", la.compressed_size, lb.compressed_size, Cause.COMPRESSION),
                ], note="same uncompressed layer (diff_id), different blob"))
            continue
        keys_a = [_entry_key(e) for e in la.entries]
        keys_b = [_entry_key(e) for e in lb.entries]
        if keys_a == keys_b:
            if [e.mtime_ns for e in la.entries] != [e.mtime_ns for e in lb.entries]:
                continue  # the mtimes show up as file changes, classed as timestamps
            out.append(Change("layer", f"layers[{i}]", "modified", Cause.TAR_FORMAT,
                              [FieldChange("diff_id", la.diff_id, lb.diff_id, Cause.TAR_FORMAT)],
                              note="same entries in the same order: the tar encoding differs (USTAR/PAX/GNU or padding)"))
        elif Counter(keys_a) == Counter(keys_b):
            out.append(Change("layer", f"layers[{i}]", "modified", Cause.TAR_FORMAT,
                              [FieldChange("diff_id", la.diff_id, lb.diff_id, Cause.TAR_FORMAT)],
                              note="same entries in a different order"))
        else:
            set_a, set_b = set(keys_a), set(keys_b)
            moved = sorted({k[0] for k in set_a ^ set_b} - set(changed_paths))
            if moved:
                shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
                out.append(Change("layer", f"layers[{i}]", "modified", Cause.LAYER_BOUNDARIES,
                                  [FieldChange("diff_id", la.diff_id, lb.diff_id, Cause.LAYER_BOUNDARIES)],
                                  note=f"entries that the merged filesystem does not show as changed moved into or out of "
                                       f"this layer: {shown}", paths=moved))
    return out


def _history(indexes: list[LayerIndex], image: Image) -> Callable[[int], str | None]:
    def created_by(layer: int) -> str | None:
        h = image.layers[layer].history if 0 <= layer < len(image.layers) else None
        return h.created_by if h else None
    return created_by


def compare_hidden_content(a: Image, b: Image, ia: list[LayerIndex], ib: list[LayerIndex],
                           ta: Tree, tb: Tree, changed_paths: set[str]) -> list[Change]:
    """Regular-file contents present in one image's layers and never in the other's, where the
    merged view does not already show the path as changed: e.g. a key added then deleted.

    A layer both images hold (same diff_id) has the same entries on both sides, so its contents
    are never one-sided: only the other layers are collected, and the shared ones are searched
    just for the paths those name (a rebuild's new top layer, not the whole image)."""
    shared = {index.diff_id for index in ia} & {index.diff_id for index in ib}

    def first_seen(indexes: list[LayerIndex]) -> dict[tuple[str, bytes], int]:
        out: dict[tuple[str, bytes], int] = {}
        for index in indexes:
            if index.diff_id not in shared:
                for e in index.entries:
                    if e.kind is EntryKind.FILE and e.sha256 is not None:
                        out.setdefault((e.path, e.sha256), index.layer)
        return out

    ca, cb = first_seen(ia), first_seen(ib)
    paths = {path for path, _ in ca} | {path for path, _ in cb}
    in_shared: set[tuple[str, bytes]] = set()
    for index in {index.diff_id: index for index in ia if index.diff_id in shared}.values():
        for e in index.entries:
            if e.path in paths and e.kind is EntryKind.FILE and e.sha256 is not None:
                in_shared.add((e.path, e.sha256))
    out: list[Change] = []
    for contents, other, tree, image, side in ((ca, cb, ta, a, "a"), (cb, ca, tb, b, "b")):
        created_by = _history([], image)
        for (path, sha), layer in sorted(contents.items()):
            if (path, sha) in other or (path, sha) in in_shared or path in changed_paths:
                continue
            node = tree.get(path)
            if node is not None and node.inode.sha256 == sha:
                continue  # visible, and the merged comparison has judged it equal
            prov = Side(layer, created_by(layer))
            note = (f"present in layer {layer} of {side.upper()} but hidden in its merged filesystem "
                    f"(deleted or replaced later); the other image never had this content")
            # The merged views agree here, so this is a consequence of how the layers are cut:
            # --semantic accepts it; by default it counts (a deleted secret still ships).
            change = Change("hidden", path, "removed" if side == "a" else "added", Cause.LAYER_BOUNDARIES,
                            [FieldChange("sha256", sha.hex() if side == "a" else None, sha.hex() if side == "b" else None,
                                         Cause.LAYER_BOUNDARIES)],
                            a=prov if side == "a" else None, b=prov if side == "b" else None, note=note)
            out.append(change)
    return out
