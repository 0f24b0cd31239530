"""Gzip seek points: re-read a few files of a layer without inflating everything before them.

The second content read of a gzip layer (a text diff, `cat`, a package check) goes
through indexed_gzip, which records a zran access point (the bit offset and the 32 KiB window
before it) every `spacing` uncompressed bytes as it inflates. The points are stored in the layer
cache next to the layer's index. Later reads seek to the point before a file's tar header and
inflate only from there. The first read is the one-pass ISA-L read as before, since recording
costs more than it (zlib) and a layer read once, like a new build's top layer, would never
repay it.

Points are never trusted: every file read through them is checked against the sha256 of the
verified indexing pass before any byte reaches the caller, and a mismatch (a stale or corrupted
point, a changed blob) drops the points and falls back to the full verified read.

Why not during the indexing pass: neither isal nor zlib in Python exposes deflate block
boundaries. rapidgzip could drive the pass, at 1.18x its CPU, but holds decoded chunks in memory
(1.4 GB on a 2 MB gzip bomb at its 4 MiB chunks); indexed_gzip cannot hand over the bytes it
inflates without inflating them twice. docs/benchmarks.md has the figures (bench_seek.py).

zstd layers whose stream has several frames (zstd:chunked, as podman, buildah and skopeo write
it, or any multi-frame zstd) get the same treatment with frame boundaries instead of zran points:
a frame decodes on its own, so a boundary is just (compressed offset, uncompressed offset) of a
frame's start, recorded on the second content read as the frames go by (one every `spacing`
bytes, at most MAX_POINTS, plus the furthest frame reached), stored in their own cache file, and
decoded with zstandard from the frame before a file's tar header (untrusted/decompress.py
ZstdSeeker, which also steps over skippable frames). A single-frame zstd layer (what
`zstd`, Python's zstandard and skopeo's plain `zstd` format write) keeps the full read: it has no
place to start but its first byte. Whether a blob has a second frame is read from its frame and
block headers alone (`zstd_has_several_frames`), when the read is planned.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from ..errors import InspectrError
from ..image import LayerRef
from ..limits import Limits
from ..mediatypes import Compression, layer_compression
from ..sources.blobs import FileSlice
from ..untrusted.decompress import GzipSeeker, ZstdSeeker, zstd_has_several_frames
from ..untrusted.tar import StreamBlocks, TarWalker
from .cache import LayerCache
from .layer_index import LayerIndex

__all__ = ["SeekPlan", "plan_seek", "read_through_points", "worth_seeking", "MIN_SPACING", "MAX_POINTS", "MAX_MEMBERS"]

T = TypeVar("T")
Sink = Callable[[bytes | memoryview], object]

MIN_SPACING = 1 << 20  # a read inflates at most about this much before the file it wants
MAX_POINTS = 1024  # bounds the windows held and stored: at most 32 MiB, whatever the layer's size
# indexed_gzip adds a point at every member start, and its seek slows down with many members
# (200 000 one-line members took 17 s): a blob with more members is read in full instead.
MAX_MEMBERS = 64


@dataclass(frozen=True, slots=True)
class SeekPlan:
    """How one layer may be read through seek points: where they are stored, the spacing of
    new ones (None: use stored points only, never record new ones), and which kind they are
    (gzip access points or zstd frame boundaries)."""

    cache: LayerCache
    spacing: int | None
    compression: Compression = Compression.GZIP


def plan_seek(ref: LayerRef, index: LayerIndex | None, cache: LayerCache | None, probe: bool = False) -> SeekPlan | None:
    """A plan when the layer is gzip of few members, or zstd of several frames, stored in a local
    file (facts from its index and its frame headers: a hint only, every byte read is checked
    against the caller's digests); None means: read it in full, as before. Without an index,
    stored points may still be used. With `probe`, only whether the blob could be read so (a
    local file with a digest to key on)."""
    if cache is None or not isinstance(ref.blob, FileSlice) or ref.digest is None or not ref.digest.verifiable:
        return None
    if probe:
        try:
            declared = layer_compression(ref.media_type)
        except KeyError:
            return None
        return SeekPlan(cache, None) if declared in (None, Compression.GZIP, Compression.ZSTD) else None
    if index is None:
        for compression in (Compression.GZIP, Compression.ZSTD):
            if cache.has_seek_points(ref, compression):
                return SeekPlan(cache, None, compression)
        return None
    # Points are recorded every `spacing` uncompressed bytes: at most MAX_POINTS for the layer.
    spacing = max(MIN_SPACING, -(-index.uncompressed_size // MAX_POINTS))
    if index.compression == Compression.ZSTD.value:
        try:
            with ref.blob.open() as raw:
                several = zstd_has_several_frames(raw, ref.label)
        except InspectrError:
            return None  # the full read reports what is wrong with the blob
        return SeekPlan(cache, spacing, Compression.ZSTD) if several else None
    if index.compression != "gzip" or not 0 < index.gzip_members <= MAX_MEMBERS:
        return None
    return SeekPlan(cache, spacing)


# What a read through points costs besides its seeks (importing indexed_gzip, loading and
# checking the stored points), in bytes of the one-pass read that would cost the same CPU.
_FIXED_COST_BYTES = 16 << 20


def worth_seeking(targets: int, last_offset: int, spacing: int | None) -> bool:
    """Whether reading `targets` files through points beats one pass to the last of them. A
    seek inflates up to one spacing with zlib (measured: 1.6 ms a seek at 1 MiB, against 3.8 ms
    a MB for the one-pass ISA-L read with its hashing), so it costs about one spacing of the
    pass; 220 files in a 110 MB layer are read faster in one pass."""
    spacing = spacing or max(MIN_SPACING, last_offset // MAX_POINTS)
    return _FIXED_COST_BYTES + targets * spacing < last_offset


class _Mismatch(Exception):
    pass


class _Seeker(Protocol):
    def seek(self, offset: int) -> None: ...
    def read(self, n: int = ...) -> bytes: ...
    def grew(self) -> bool: ...
    def export(self) -> bytes: ...
    def close(self) -> None: ...


def _open_seeker(plan: SeekPlan, blob: FileSlice, points: bytes | None, what: str) -> _Seeker:
    if plan.compression is Compression.ZSTD:
        return ZstdSeeker(blob.open(), plan.spacing or MIN_SPACING, points, what, MAX_POINTS)
    return GzipSeeker(blob.open(), plan.spacing or MIN_SPACING, points, what)


def _read_member(seeker: _Seeker, offset: int, limits: Limits, what: str, sink: object) -> None:
    """Parse the tar header(s) at `offset` of the uncompressed stream and pass that member's
    content to `sink` (through the same walker as the indexing pass: PAX, GNU names, sparse)."""
    seeker.seek(offset)
    walker = TarWalker(StreamBlocks(_Small(seeker), [], limits.max_layer_bytes, what), limits, what,
                       lambda code, msg: None)
    for member in walker:
        walker.consume(member, sink)  # type: ignore[arg-type]
        return
    raise _Mismatch("no member at the offset")


class _Small:
    """Reads of at most 64 KiB: the tar reader asks for 1 MiB at a time, which here would
    inflate up to 1 MiB past a small file."""

    __slots__ = ("_src",)

    def __init__(self, src: _Seeker) -> None:
        self._src = src

    def read(self, n: int = -1) -> bytes:
        return self._src.read(min(n, 1 << 16) if n and n > 0 else 1 << 16)


class _Hold:
    """Keeps a file's bytes (in memory up to 8 MiB, then on disk) while hashing them, so that
    only checked bytes are handed on."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)

    def update(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.spool.write(data)


def read_through_points(ref: LayerRef, limits: Limits, plan: SeekPlan, targets: dict[int, T],
                        expected: Callable[[T], bytes | None], open_sink: Callable[[T], Sink],
                        close_sink: Callable[[T], None]) -> None:
    """Deliver each target whose member bytes match its indexed sha256, in offset order, and
    remove it from `targets`. Stops at the first failure (the points are then dropped from the
    cache); what is left in `targets` must be read in full by the caller."""
    blob = ref.blob
    assert isinstance(blob, FileSlice)
    if not worth_seeking(len(targets), max(targets, default=0), plan.spacing):
        return
    kind = plan.compression
    points = plan.cache.get_seek_points(ref, kind)
    if points is None and plan.spacing is None:
        plan.cache.put_seek_points(ref, None, kind)  # damaged: a later read records them again
        return
    try:
        seeker = _open_seeker(plan, blob, points, ref.label)
    except InspectrError:
        plan.cache.put_seek_points(ref, None, kind)
        return
    try:
        for offset in sorted(targets):
            target = targets[offset]
            want = expected(target)
            if want is None:
                continue
            hold = _Hold()
            try:
                try:
                    _read_member(seeker, offset, limits, ref.label, hold)
                except (InspectrError, _Mismatch):
                    raise _Mismatch("unreadable") from None
                if hold.hash.digest() != want:
                    raise _Mismatch("sha256")
                hold.spool.seek(0)
                sink = open_sink(target)
                shutil.copyfileobj(hold.spool, _Writer(sink), 1 << 20)
                close_sink(target)
            finally:
                hold.spool.close()
            del targets[offset]
        # Imported points keep their spacing when extended (chosen from the layer's size when
        # they were first recorded), so extending them stays within MAX_POINTS.
        if seeker.grew():
            try:
                plan.cache.put_seek_points(ref, seeker.export(), kind)
            except InspectrError:
                pass  # the reads succeeded; only the points are not kept
    except _Mismatch:
        plan.cache.put_seek_points(ref, None, kind)  # stale or corrupt: rebuilt by a later read
    finally:
        seeker.close()


class _Writer:
    __slots__ = ("write",)

    def __init__(self, sink: Sink) -> None:
        self.write = sink
