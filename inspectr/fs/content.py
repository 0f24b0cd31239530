"""Batched content re-reads: one streaming pass per layer, for `cat` and `export`, or, for a
gzip layer, or a zstd layer of several frames, read before, only the spans that hold the wanted
files (fs/seekpoints.py).

Content is checked against the sha256 recorded during the verified indexing pass, so bytes
that changed on disk since are caught even when a pass stops early.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import weakref
from typing import BinaryIO, Callable, Iterable, Sequence, TypeVar

from ..errors import DigestMismatch, NotAFile, PathNotFound, UsageError
from ..image import Image, LayerRef
from ..limits import Limits
from ..untrusted.tar import Member, TarWalker
from ..session import Session
from .build import check_total, content_key, index_refs
from .entry import EntryKind
from .layer_index import Keep, LayerIndex, iter_layer_members
from .seekpoints import SeekPlan, plan_seek, read_through_points
from .tree import Inode, Tree, apply_layers

__all__ = ["content_sources", "stream_contents", "SpoolJob", "spool_contents", "DigestJob", "digest_contents", "read_file", "KeptFiles"]

T = TypeVar("T")


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


Sink = Callable[[bytes | memoryview], object]


def _plan(ref: LayerRef, session: Session | None) -> SeekPlan | None:
    """How to read the layer through seek points, if at all. The facts come from the index this
    run verified or, failing that, from stored points or the cached index: they only decide
    where to read, the bytes are checked against the caller's digests."""
    cache = session.cache if session is not None else None
    if session is None or cache is None or plan_seek(ref, None, cache, probe=True) is None:
        return None
    if cache.has_seek_points(ref):
        return plan_seek(ref, None, cache)
    if not cache.was_read(ref):
        # Recording points inflates with zlib, 1.2-1.6x the CPU of the ISA-L pass, and pays off
        # only when the layer is read again: a layer read once (a new build's top layer in CI)
        # is read in full as before, and its second read records them.
        cache.note_read(ref)
        return None
    key = content_key(ref)
    index = session.verified.get(key) or session.verified.get(key, True) or cache.get(ref, ref.index)
    return plan_seek(ref, index, cache)


def _work(ref: LayerRef, targets: int, plan: SeekPlan | None) -> int:
    """Bytes to inflate, roughly, for the executor's scheduling: with stored points about one
    spacing per file, else the whole blob."""
    if plan is not None and plan.spacing is None:
        return min(targets << 20, ref.blob.length)
    return ref.blob.length


def _read_layer(ref: LayerRef, limits: Limits, targets: dict[int, T], expected: Callable[[T], bytes | None],
                open_sink: Callable[[T], Sink], close_sink: Callable[[T], None], stop_early: bool,
                plan: SeekPlan | None = None) -> None:
    """Stream each target member's bytes into its sink, checked against the digest of the
    verified indexing pass: through seek points when the plan allows (gzip, multi-frame zstd),
    then, for whatever they did not deliver, in one pass over the layer."""
    targets = dict(targets)
    if plan is not None:
        read_through_points(ref, limits, plan, targets, expected, open_sink, close_sink)
        if not targets:
            return
    walker: TarWalker
    member: Member
    for walker, member in iter_layer_members(ref, limits):
        target = targets.pop(member.offset, None)
        if target is None:
            continue
        checked = _Checked(open_sink(target))
        walker.consume(member, checked)
        close_sink(target)
        want = expected(target)
        if want is not None and checked.digest() != want:
            raise DigestMismatch(
                f"{ref.label}: content of a file changed since it was indexed "
                f"(expected sha256:{want.hex()}, got sha256:{checked.digest().hex()})"
            )
        if stop_early and not targets:
            break


def stream_contents(
    image: Image,
    wanted: dict[int, dict[int, Inode]],
    open_sink: Callable[[Inode], Sink],
    close_sink: Callable[[Inode], None],
    stop_early: bool = False,
    *,
    session: Session | None = None,
) -> None:
    """For each wanted inode, in layer order then stream order: open a sink, stream the bytes
    into it, verify them, close it. With `stop_early`, a layer pass ends at its last wanted
    member (used by `cat`; integrity rests on the per-file digest check). With a `session`
    whose cache is on, a gzip layer read before is read through seek points (fs/seekpoints.py)."""
    for layer_no in sorted(wanted):
        ref = image.layers[layer_no]
        _read_layer(ref, image.limits, wanted[layer_no], lambda inode: inode.sha256,
                    open_sink, close_sink, stop_early, _plan(ref, session))


# (layer, limits, {member offset: (destination file, indexed sha256)})
SpoolJob = tuple[LayerRef, Limits, dict[int, tuple[str, bytes | None]]]


class KeptFiles:
    """Files' bytes that this run's indexing passes copied aside (layer_index.Keep), by
    layer content key, in a private temporary directory that `close()` removes. Bytes taken
    from here are checked against the indexed sha256 like any other read."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.keeps: dict[str, Keep] = {}
        self._remove: weakref.finalize | None = None  # type: ignore[type-arg]

    def keep_for(self, key: str, budget: int) -> Keep:
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="inspectr-keep-")
            self._remove = weakref.finalize(self, shutil.rmtree, self.dir, True)  # if close() is never called
        keep = self.keeps[key] = Keep(os.path.join(self.dir, f"{len(self.keeps)}.data"), budget=budget)
        return keep

    def take(self, key: str, targets: dict[int, tuple[str, bytes | None]]) -> None:
        """Write each target kept for this layer to its destination, and drop it from `targets`."""
        keep = self.keeps.get(key)
        if keep is None:
            return
        where = keep.read_map()
        try:
            with open(keep.path, "rb") as fp:
                for offset in [o for o in targets if o in where]:
                    dest, want = targets[offset]
                    position, length = where[offset]
                    fp.seek(position)
                    data = fp.read(length)
                    if want is None or hashlib.sha256(data).digest() != want:
                        continue  # read from the layer instead
                    with open(dest, "wb") as out:
                        out.write(data)
                    del targets[offset]
        except OSError:
            return

    def close(self) -> None:
        if self._remove is not None:
            self._remove()


def _spool_layer(planned: tuple[SpoolJob, SeekPlan | None]) -> None:
    (ref, limits, targets), plan = planned
    files: dict[str, BinaryIO] = {}

    def open_file(target: tuple[str, bytes | None]) -> Sink:
        files[target[0]] = open(target[0], "wb")
        return files[target[0]].write

    try:
        _read_layer(ref, limits, targets, lambda target: target[1], open_file,
                    lambda target: files.pop(target[0]).close(), stop_early=True, plan=plan)
    finally:
        for fp in files.values():
            fp.close()


def spool_contents(jobs: Sequence[SpoolJob], *, session: Session, meanwhile: Callable[[], object] | None = None,
                   kept: KeptFiles | None = None) -> None:
    """Write wanted files' bytes to the given paths: those `kept` holds from there, the others
    in one pass per layer, stopping at its last wanted file, layers on the session's executor.
    `meanwhile` runs here while they do (and runs even when there is nothing to read)."""
    if kept is not None:
        for ref, _, targets in jobs:
            kept.take(content_key(ref), targets)
    jobs = [job for job in jobs if job[2]]
    planned = [(job, _plan(job[0], session)) for job in jobs]
    session.executor.map(_spool_layer, planned, [_work(job[0], len(job[2]), plan) for job, plan in planned],
                         meanwhile=meanwhile)


# (layer, limits, {member offset: (hash algorithms wanted, indexed sha256)})
DigestJob = tuple[LayerRef, Limits, dict[int, tuple[tuple[str, ...], bytes | None]]]


class _Hashers:
    __slots__ = ("hashers",)

    def __init__(self, algorithms: tuple[str, ...]) -> None:
        self.hashers = [hashlib.new(a) for a in algorithms]

    def __call__(self, data: bytes | memoryview) -> None:
        for h in self.hashers:
            h.update(data)


def _digest_layer(planned: tuple[DigestJob, SeekPlan | None]) -> dict[int, dict[str, str]]:
    (ref, limits, targets), plan = planned
    open_hashers: dict[int, _Hashers] = {}
    out: dict[int, dict[str, str]] = {}

    def open_sink(target: tuple[int, tuple[str, ...]]) -> Sink:
        open_hashers[target[0]] = _Hashers(target[1])
        return open_hashers[target[0]]

    def close_sink(target: tuple[int, tuple[str, ...]]) -> None:
        hashers = open_hashers.pop(target[0])
        out[target[0]] = {h.name: h.hexdigest() for h in hashers.hashers}

    keyed = {offset: (offset, algos) for offset, (algos, _) in targets.items()}
    _read_layer(ref, limits, keyed, lambda target: targets[target[0]][1], open_sink, close_sink, stop_early=True,
                plan=plan)
    return out


def digest_contents(jobs: Sequence[DigestJob], *, session: Session) -> list[dict[int, dict[str, str]]]:
    """Other digests (md5, sha1, …) of wanted files, for checks against databases that record
    them: one pass per layer, stopping at its last wanted file, layers on the session's executor.
    Each file's bytes are still checked against the verified index's sha256 on the way."""
    planned = [(job, _plan(job[0], session)) for job in jobs]
    return session.executor.map(_digest_layer, planned, [_work(job[0], len(job[2]), plan) for job, plan in planned])


def tree_inodes(tree: Tree) -> list[Inode]:
    seen: set[int] = set()
    out = []
    for node in tree.walk():
        if node.inode.id not in seen:
            seen.add(node.inode.id)
            out.append(node.inode)
    return out


def read_file(image: Image, path: str, *, layer: int | None = None, session: Session, strict: bool = False) -> BinaryIO:
    """The bytes of the regular file at `path` (symlinks followed in-root), or with `layer`, of
    that layer's own member named `path`, checked against the indexed sha256: a spooled
    temporary file at offset 0, for the caller to copy and close. With every index cached, the
    file is read while the blobs' digests are checked, and handed out only once they are."""
    if layer is not None and not 0 <= layer < len(image.layers):
        raise UsageError(f"--layer {layer}: the image has {len(image.layers)} layers (0 to {len(image.layers) - 1})")
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)

    def read(indexes: list[LayerIndex]) -> None:
        if layer is None:
            check_total(image, indexes)
        inode = _in_tree(apply_layers(indexes, image.limits, strict), path) if layer is None else _in_layer(indexes[0], path)
        stream_contents(image, content_sources([inode]), lambda _: spool.write, lambda _: None, stop_early=True,
                        session=session)

    try:
        index_refs(image.layers if layer is None else [image.layers[layer]], image.limits, session=session, meanwhile=read)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool  # type: ignore[return-value]  # a SpooledTemporaryFile reads like a BinaryIO


def _in_tree(tree: Tree, path: str) -> Inode:
    node = tree.resolve(path)
    if node is None:
        raise PathNotFound(f"{path}: no such file in the image")
    if node.kind is not EntryKind.FILE:
        raise NotAFile(f"{path}: is a {node.kind.value}, not a regular file")
    return node.inode


def _in_layer(index: LayerIndex, path: str) -> Inode:
    """The member named `path` in the layer's tar (a hardlink there leads to its target in that layer)."""
    entries = {e.path: e for e in index.entries}
    entry = entries.get(path.strip("/").removeprefix("./"))
    for _ in range(8):  # a hardlink names another member of the same layer
        if entry is None or entry.kind is not EntryKind.HARDLINK or not entry.linkname:
            break
        entry = entries.get(entry.linkname.strip("/"))
    if entry is None:
        raise PathNotFound(f"{path}: not in layer {index.layer}")
    if entry.kind is not EntryKind.FILE:
        raise NotAFile(f"{path}: is a {entry.kind.value} in layer {index.layer}, not a regular file")
    return Inode(entry, index.layer)
