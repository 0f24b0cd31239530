"""Batched content re-reads: one streaming pass per layer, for `cat` and `export`.

Content is checked against the sha256 recorded during the verified indexing pass, so bytes
that changed on disk since are caught even when a pass stops early.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Sequence

from ..errors import DigestMismatch
from ..image import Image, LayerRef
from ..limits import Limits
from ..untrusted.tar import Member, TarWalker
from .entry import EntryKind
from .layer_index import iter_layer_members
from .tree import Inode, Tree

__all__ = ["content_sources", "stream_contents", "SpoolJob", "spool_contents"]


def content_sources(inodes: Iterable[Inode]) -> dict[int, dict[int, Inode]]:
    """{layer: {member offset: inode}} for the regular files whose bytes are wanted."""
    out: dict[int, dict[int, Inode]] = {}
    for inode in inodes:
        if inode.kind is EntryKind.FILE:
            out.setdefault(inode.layer, {})[inode.offset] = inode
    return out


class _Checked:
    """Passes bytes on while hashing them, to compare with the indexed digest."""

    __slots__ = ("_sink", "_hash")

    def __init__(self, sink: Callable[[bytes | memoryview], object]) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self._sink(data)

    def digest(self) -> bytes:
        return self._hash.digest()


def stream_contents(
    image: Image,
    wanted: dict[int, dict[int, Inode]],
    open_sink: Callable[[Inode], Callable[[bytes | memoryview], object]],
    close_sink: Callable[[Inode], None],
    stop_early: bool = False,
) -> None:
    """For each wanted inode, in layer order then stream order: open a sink, stream the bytes
    into it, verify them, close it. With `stop_early`, a layer pass ends at its last wanted
    member (used by `cat`; integrity rests on the per-file digest check)."""
    for layer_no in sorted(wanted):
        targets = dict(wanted[layer_no])
        ref = image.layers[layer_no]
        walker: TarWalker
        member: Member
        for walker, member in iter_layer_members(ref, image.limits):
            inode = targets.pop(member.offset, None)
            if inode is None:
                continue
            checked = _Checked(open_sink(inode))
            walker.consume(member, checked)
            close_sink(inode)
            if inode.sha256 is not None and checked.digest() != inode.sha256:
                raise DigestMismatch(
                    f"{ref.label}: content of a file changed since it was indexed "
                    f"(expected sha256:{inode.sha256.hex()}, got sha256:{checked.digest().hex()})"
                )
            if stop_early and not targets:
                break


# (layer, limits, {member offset: (destination file, indexed sha256)})
SpoolJob = tuple[LayerRef, Limits, dict[int, tuple[str, bytes | None]]]

# Below this many compressed bytes a worker process costs more than it saves.
_PARALLEL_MIN_BYTES = 16 << 20


def _spool_layer(job: SpoolJob) -> None:
    ref, limits, targets = job
    targets = dict(targets)
    for walker, member in iter_layer_members(ref, limits):
        target = targets.pop(member.offset, None)
        if target is None:
            continue
        path, expected = target
        with open(path, "wb") as fp:
            checked = _Checked(fp.write)
            walker.consume(member, checked)
        if expected is not None and checked.digest() != expected:
            raise DigestMismatch(
                f"{ref.label}: content of a file changed since it was indexed "
                f"(expected sha256:{expected.hex()}, got sha256:{checked.digest().hex()})"
            )
        if not targets:  # integrity rests on the per-file check above
            break


def spool_contents(jobs: Sequence[SpoolJob], workers: int | None = None) -> None:
    """Write wanted files' bytes to the given paths: one pass per layer, layers in worker
    processes when there is enough to inflate (a thread per image left one core idle, because the
    tar walk holds the GIL)."""
    jobs = [job for job in jobs if job[2]]
    if workers is None:
        workers = min(len(jobs), os.cpu_count() or 1)
        if sum(job[0].blob.length for job in jobs) < _PARALLEL_MIN_BYTES:
            workers = 1
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _spool_layer(job)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for future in [pool.submit(_spool_layer, job) for job in sorted(jobs, key=lambda j: -j[0].blob.length)]:
            future.result()


def tree_inodes(tree: Tree) -> list[Inode]:
    seen: set[int] = set()
    out = []
    for node in tree.walk():
        if node.inode.id not in seen:
            seen.add(node.inode.id)
            out.append(node.inode)
    return out
