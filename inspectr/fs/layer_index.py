"""LayerIndex: one verified streaming pass over a layer blob (DESIGN.md decision 1).

The pass hashes the compressed bytes (digest + exact size), decompresses by media type or magic,
hashes the uncompressed stream (diff_id, trailing bytes included), walks the tar headers and
hashes each regular file. Nothing is returned unless all three checks pass (R22).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Protocol

from ..digest import Digest, VerifyingReader
from ..errors import (DecompressError, DiffIdMismatch, EntryLimitExceeded, InspectrError, IntegrityError, SizeLimitExceeded,
                      UnsupportedMediaType)
from ..limits import Limits
from ..mediatypes import layer_compression
from ..untrusted.decompress import Compression, PeekReader, open_decompressed, sniff
from ..untrusted.members import classify_member
from ..untrusted.secrets import SCAN_MAX_BYTES, SecretMatch, scan_content
from ..untrusted.tar import Member, StreamBlocks, TarWalker
from .entry import Entry, EntryKind, Notice

__all__ = ["LayerSource", "LayerIndex", "index_layer", "index_tar_bytes", "iter_layer_members", "verify_blob"]



class LayerSource(Protocol):
    """What a source adapter hands over for one layer; `open()` gives the raw blob bytes."""

    @property
    def media_type(self) -> str | None: ...
    @property
    def digest(self) -> Digest | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def diff_id(self) -> Digest | None: ...
    @property
    def label(self) -> str: ...
    def open(self) -> BinaryIO: ...


@dataclass(slots=True)
class LayerIndex:
    """The entries of one layer in stream order, with the verified facts about its blob."""

    layer: int
    entries: list[Entry]
    notices: list[Notice] = field(default_factory=list)
    digest: str | None = None
    diff_id: str | None = None
    compressed_size: int | None = None
    uncompressed_size: int = 0
    compression: str = "none"
    media_type: str | None = None
    # With scan_secrets: (path, matches) for files whose content matched, found in the same pass.
    secrets: list[tuple[str, list[SecretMatch]]] = field(default_factory=list)


class _Counter:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def update(self, data: bytes | memoryview) -> None:
        self.n += len(data)


def _choose_compression(source: LayerSource, head: bytes) -> Compression:
    try:
        declared = layer_compression(source.media_type)
    except KeyError:
        raise UnsupportedMediaType(f"{source.label}: unsupported layer media type {source.media_type!r}") from None
    found = sniff(head)
    if isinstance(found, str):
        raise DecompressError(f"{source.label}: {found}-compressed layers are not supported")
    if declared is not None and found is not declared and head:
        raise DecompressError(
            f"{source.label}: media type {source.media_type} says {declared.value} but the bytes are {found.value}"
        )
    return found if declared is None else declared


def _open_tar_stream(
    source: LayerSource, limits: Limits, notes: Callable[[str, str], None]
) -> tuple[VerifyingReader, object, Compression, hashlib._Hash, _Counter]:
    # The diff_id's own algorithm (sha256 or sha512); anything else cannot be verified.
    diff_hasher = source.diff_id.hasher() if source.diff_id is not None else hashlib.sha256()
    verifier = VerifyingReader(source.open(), source.digest, source.size, source.label)
    peek = PeekReader(verifier)
    head = peek.peek(8)
    compression = _choose_compression(source, head)
    if not head:
        # A 0-byte blob is an empty changeset whatever its media type says (Go readers agree).
        return verifier, peek, Compression.NONE, diff_hasher, _Counter()
    stream = open_decompressed(peek, compression, source.label, notes)
    return verifier, stream, compression, diff_hasher, _Counter()


def iter_layer_members(
    source: LayerSource, limits: Limits, notes: Callable[[str, str], None] | None = None
) -> Iterator[tuple[TarWalker, Member]]:
    """Re-stream a layer for content reads (`cat`, `export`): yields (walker, member) pairs.

    Each blob is re-verified at the end; callers check each file against its indexed sha256.
    """
    warn = notes or (lambda code, message: None)
    verifier, stream, _, diff_hasher, counter = _open_tar_stream(source, limits, warn)
    try:
        blocks = StreamBlocks(stream, [diff_hasher, counter], limits.max_layer_bytes, source.label)
        walker = TarWalker(blocks, limits, source.label, warn)
        try:
            for member in walker:
                yield walker, member
        except InspectrError as err:
            _blame_integrity(verifier, err)
            raise
        _finish(source, verifier, stream, diff_hasher)
    finally:
        verifier.close()


def _blame_integrity(verifier: VerifyingReader, err: InspectrError) -> None:
    """A parse failure in a blob whose digest is also wrong is reported as the digest failure:
    the root cause is that the bytes are not the ones the manifest names (R22)."""
    if isinstance(err, IntegrityError):
        return
    try:
        verifier.drain()
    except IntegrityError as integrity:
        raise integrity from err


def _finish(source: LayerSource, verifier: VerifyingReader, stream: object, diff_hasher: "hashlib._Hash") -> None:
    # The tar walker drained the decompressed stream; drain the blob so size+digest get checked.
    while stream.read(1 << 20):  # type: ignore[attr-defined]
        pass
    verifier.drain()
    if source.diff_id is not None:
        got = diff_hasher.hexdigest()
        if got != source.diff_id.encoded:
            raise DiffIdMismatch(
                f"{source.label}: diff_id mismatch: config says {source.diff_id}, uncompressed layer is {source.diff_id.algorithm}:{got}",
                hint="the layer or the config was modified after the image was written",
            )


def index_layer(source: LayerSource, layer: int, limits: Limits, scan_secrets: bool = False) -> LayerIndex:
    """Index one layer blob in a single verified pass (with `scan_secrets`, small files are also
    searched for secrets while they are hashed). Raises InspectrError subclasses."""
    notices: list[Notice] = []

    def warn(code: str, message: str) -> None:
        notices.append(Notice(code, "", layer, message))

    verifier, stream, compression, diff_hasher, counter = _open_tar_stream(source, limits, warn)
    try:
        blocks = StreamBlocks(stream, [diff_hasher, counter], limits.max_layer_bytes, source.label)
        secrets: list[tuple[str, list[SecretMatch]]] | None = [] if scan_secrets else None
        try:
            entries = _index_members(TarWalker(blocks, limits, source.label, warn), layer, limits, notices, secrets)
        except InspectrError as err:
            _blame_integrity(verifier, err)
            raise
        _finish(source, verifier, stream, diff_hasher)
    finally:
        verifier.close()
    return LayerIndex(
        layer=layer,
        entries=entries,
        notices=notices,
        digest=str(source.digest) if source.digest else None,
        diff_id=f"{diff_hasher.name}:{diff_hasher.hexdigest()}",
        compressed_size=verifier.count,
        uncompressed_size=counter.n,
        compression=compression.value,
        media_type=source.media_type,
        secrets=secrets or [],
    )


def verify_blob(source: LayerSource) -> int:
    """Stream a blob only to check its size and digest (for a copy of a blob already indexed
    elsewhere: equal digests mean equal bytes, so the index carries over). Returns its size."""
    verifier = VerifyingReader(source.open(), source.digest, source.size, source.label)
    try:
        verifier.drain()
    finally:
        verifier.close()
    return verifier.count


def index_tar_bytes(data: bytes, layer: int = 0, limits: Limits = Limits()) -> LayerIndex:
    """Index an in-memory uncompressed tar (for tests and tools); no digests to check."""
    notices: list[Notice] = []

    def warn(code: str, message: str) -> None:
        notices.append(Notice(code, "", layer, message))

    diff_hasher = hashlib.sha256()
    blocks = StreamBlocks(io.BytesIO(data), [diff_hasher], limits.max_layer_bytes, f"layer {layer}")
    entries = _index_members(TarWalker(blocks, limits, f"layer {layer}", warn), layer, limits, notices)
    return LayerIndex(layer, entries, notices, None, f"sha256:{diff_hasher.hexdigest()}", len(data), len(data))


class _Tee:
    """Hashes and keeps a copy (only for files small enough to be content-scanned)."""

    __slots__ = ("hasher", "buf")

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.buf = bytearray()

    def update(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        self.buf += data


def _index_members(walker: TarWalker, layer: int, limits: Limits, notices: list[Notice],
                   secrets: list[tuple[str, list[SecretMatch]]] | None = None) -> list[Entry]:
    # Names, link targets and whiteout markers are classified in untrusted/members.py; this loop
    # hashes content and turns records into entries. It runs once per member (millions on big
    # images), hence the local names.
    entries: list[Entry] = []
    append = entries.append
    sha256 = hashlib.sha256
    classify = classify_member
    file_kind, whiteout_kind, opaque_kind = EntryKind.FILE, EntryKind.WHITEOUT, EntryKind.OPAQUE
    what = f"layer {layer}"
    for member in walker:
        record = classify(member, limits, what)
        path = record.path
        if record.notices:
            for code, message in record.notices:
                notices.append(Notice(code, path, layer, message))
        kind = record.kind
        digest: bytes | None = None
        if kind is file_kind:
            if secrets is not None and 0 < member.size <= SCAN_MAX_BYTES:
                tee = _Tee()
                walker.consume(member, tee)
                digest = tee.hasher.digest()
                found = scan_content(bytes(tee.buf))
                if found:
                    secrets.append((path, found))
            else:
                hasher = sha256()
                walker.consume(member, hasher)
                digest = hasher.digest()
        elif kind is whiteout_kind or kind is opaque_kind:
            # Markers carry no metadata of their own (R5, R7); a marker's content is skipped.
            append(Entry(path, kind, 0, 0, 0, 0, member.mtime_ns, "", None, member.offset, raw_name=record.raw_name))
            continue
        append(
            Entry(
                path,
                kind,
                member.mode,
                member.uid,
                member.gid,
                member.size,
                member.mtime_ns,
                record.linkname,
                digest,
                member.offset,
                member.xattrs,
                member.devmajor,
                member.devminor,
                record.raw_name,
            )
        )
    return entries


def check_limits(index: LayerIndex, limits: Limits, what: str) -> LayerIndex:
    """A cached index meets today's limits as a fresh read would: a limit lowered since it was
    cached (`--limit max_layer_bytes=100M` on a bomb) fails the same way, with the same class."""
    if index.uncompressed_size > limits.max_layer_bytes:
        raise SizeLimitExceeded(f"{what}: uncompressed stream exceeds max_layer_bytes={limits.max_layer_bytes}")
    if len(index.entries) > limits.max_entries_per_layer:
        raise EntryLimitExceeded(f"{what}: more than max_entries_per_layer={limits.max_entries_per_layer} entries")
    for e in index.entries:
        if e.size > limits.max_member_bytes:
            raise SizeLimitExceeded(f"{what}: entry {e.path!r}: {e.size} bytes exceeds max_member_bytes={limits.max_member_bytes}")
        if len(e.path.encode("utf-8", "surrogateescape")) > limits.max_path_bytes or e.path.count("/") >= limits.max_path_depth:
            raise SizeLimitExceeded(f"{what}: entry path {e.path[:64]!r}… exceeds max_path_bytes or max_path_depth")
    return index
