"""Image efficiency as dive defines it (wagoodman/dive image/efficiency.go), on layer indexes.

Per path, every layer's leaf entry adds its size ("discovered"), and the smallest copy is what
was needed; a whiteout adds the size of what it removed from the stack below when that was a
directory, and 0 for a file. score = sum(min) / sum(discovered). A path seen in two or more
layers is an inefficiency, and its cumulative size counts as wasted. dive's "user" share is
wasted bytes over the file bytes of all layers but the first.
"""

from __future__ import annotations

from ..fs.entry import EntryKind
from ..fs.layer_index import LayerIndex
from ..untrusted.paths import split_path
from .findings import Efficiency

__all__ = ["efficiency"]


def efficiency(indexes: list[LayerIndex], top: int = 20) -> Efficiency:
    cumulative: dict[str, int] = {}
    minimum: dict[str, int] = {}
    count: dict[str, int] = {}
    stacked: dict[str, int] = {}  # path -> size, the union so far (file sizes; dirs 0)
    for index in indexes:
        paths = {e.path for e in index.entries if e.kind is not EntryKind.OPAQUE and e.path}
        parents: set[str] = set()
        for p in paths:
            parent = split_path(p)[0]
            while parent:
                parents.add(parent)
                parent = split_path(parent)[0]
        seen: set[str] = set()
        for e in index.entries:
            if e.kind is EntryKind.OPAQUE or not e.path or e.path in parents:
                continue  # dive visits leaves only; an opaque marker is not a path of its own
            if e.path in seen:
                continue
            seen.add(e.path)
            if e.kind is EntryKind.WHITEOUT:
                prefix = e.path + "/"
                below = [s for p, s in stacked.items() if p.startswith(prefix)]
                size = sum(below) if below else 0
            else:
                size = e.size if e.kind is EntryKind.FILE else 0
            cumulative[e.path] = cumulative.get(e.path, 0) + size
            minimum[e.path] = size if e.path not in minimum else min(minimum[e.path], size)
            count[e.path] = count.get(e.path, 0) + 1
        for e in index.entries:  # apply this layer to the stack for later whiteout sizes
            if e.kind is EntryKind.WHITEOUT:
                prefix = e.path + "/"
                for p in [p for p in stacked if p == e.path or p.startswith(prefix)]:
                    del stacked[p]
            elif e.kind is not EntryKind.OPAQUE and e.path:
                stacked[e.path] = e.size if e.kind is EntryKind.FILE else 0
    discovered = sum(cumulative.values())
    needed = sum(minimum.values())
    score = 1.0 if discovered == 0 else needed / discovered
    inefficient = sorted((p for p, n in count.items() if n >= 2), key=lambda p: (-cumulative[p], p))
    wasted = sum(cumulative[p] for p in inefficient)
    # dive's layer size is the sum of its entries' sizes (not the tar's length).
    user_bytes = sum(e.size for index in indexes[1:] for e in index.entries if e.kind is EntryKind.FILE)
    return Efficiency(
        score=score,
        wasted_bytes=wasted,
        user_wasted_percent=(wasted / user_bytes) if user_bytes else 0.0,
        total_bytes=discovered,
        top=[{"path": p, "count": count[p], "wasted_bytes": cumulative[p]} for p in inefficient[:top]],
    )
