"""LayerIndex: one verified streaming pass over a layer blob (DESIGN.md decision 1).

The pass hashes the compressed bytes (digest + exact size), decompresses by media type or magic,
hashes the uncompressed stream (diff_id, trailing bytes included), walks the tar headers and
hashes each regular file. Nothing is returned unless all three checks pass (R22).
"""

from __future__ import annotations

import hashlib
import io
import json
import operator
import os
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO, Callable, Iterator, Protocol

from ..digest import Digest, HashBehind, HashLane, VerifyingReader
from ..errors import (DecompressError, DiffIdMismatch, EntryLimitExceeded, InspectrError, IntegrityError, SizeLimitExceeded,
                      UnsupportedMediaType)
from ..limits import Limits
from ..mediatypes import layer_compression
from ..untrusted.decompress import Compression, PeekReader, open_decompressed, sniff
from ..untrusted.members import classify_member
from ..untrusted.gobuild import GoBuildInfo, GoBuildInfoScanner, read_go_buildinfo
from ..untrusted.jar import read_jar
from ..untrusted.pkgdb import PackageDbError, evidence_kind
from ..untrusted.secrets import SCAN_MAX_BYTES, SecretMatch, scan_content
from ..untrusted.tar import Member, StreamBlocks, TarWalker
from .entry import Entry, EntryKind, Notice

__all__ = ["LayerSource", "LayerIndex", "Keep", "index_layer", "index_tar_bytes", "iter_layer_members", "verify_blob"]



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


Evidence = tuple[str, str, int, bytes]
# Bytes of evidence one layer may keep; past it, a notice says what was left out.
MAX_EVIDENCE_BYTES = 256 << 20
# A jar is held in memory to read its pom.properties; a bigger one is hashed and noted.
MAX_JAR_BYTES = 64 << 20


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
    # Package evidence kept in the same pass, so inventories never re-read a layer:
    # (kind, path, member offset, bytes). See untrusted/pkgdb.py's evidence_kind.
    evidence: list[Evidence] = field(default_factory=list)
    # gzip members in the blob (0 when not gzip): seek points are used only for a few (seekpoints.py).
    gzip_members: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # Indexes cross from pool workers as pickles. A slots dataclass pickles each entry through
        # Python-level __getstate__/__setstate__; plain tuples pickle in C: 61 000 entries
        # 0.27 s -> 0.10 s, dumps and loads together.
        return (_unpickle_index, (list(map(_ENTRY_ROW, self.entries)), [getattr(self, n) for n in _INDEX_REST]))


_ENTRY_ROW = operator.attrgetter(*(f.name for f in fields(Entry)))
_INDEX_REST = tuple(f.name for f in fields(LayerIndex) if f.name != "entries")


def _unpickle_index(rows: list[tuple[Any, ...]], rest: list[Any]) -> LayerIndex:
    return LayerIndex(entries=[Entry(*row) for row in rows], **dict(zip(_INDEX_REST, rest)))


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


class _Reporting:
    """A blob stream that tells a progress sink how much was read, every few MB (a call per read
    would show in the benchmarks), and the rest when it is closed."""

    _EVERY = 4 << 20

    def __init__(self, fp: BinaryIO, report: Callable[[int], None]) -> None:
        self._fp, self._report, self._pending = fp, report, 0

    def read(self, n: int = -1) -> bytes:
        data = self._fp.read(n)
        self._pending += len(data)
        if self._pending >= self._EVERY or not data:
            self._flush()
        return data

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, 0
            self._report(pending)

    def close(self) -> None:
        self._flush()
        self._fp.close()


def _open_blob(source: LayerSource, report: Callable[[int], None] | None) -> BinaryIO:
    fp = source.open()
    return fp if report is None else _Reporting(fp, report)  # type: ignore[return-value]


_BEHIND_BYTES = 8 << 20  # blobs below this are hashed in line: a thread costs more than it saves
_LANE_FILE_BYTES = 256 << 10  # files from this size are hashed on the lane (3/4 of the bytes, 1/1000 of the files)


def _open_tar_stream(
    source: LayerSource, limits: Limits, notes: Callable[[str, str], None], report: Callable[[int], None] | None = None
) -> tuple[VerifyingReader, object, Compression, "hashlib._Hash | HashBehind", _Counter]:
    # The diff_id's own algorithm (sha256 or sha512); anything else cannot be verified.
    plain = source.diff_id.hasher() if source.diff_id is not None else hashlib.sha256()
    verifier = None
    try:
        # Big blobs are hashed on a thread of their own (a second core, when one is free).
        verifier = VerifyingReader(_open_blob(source, report), source.digest, source.size, source.label,
                                   behind=source.size is None or source.size >= _BEHIND_BYTES)
        diff_hasher: "hashlib._Hash | HashBehind" = HashBehind(plain, verifier.lane) if verifier.lane else plain
        peek = PeekReader(verifier)
        head = peek.peek(8)
        compression = _choose_compression(source, head)
        if not head:
            # A 0-byte blob is an empty changeset whatever its media type says (Go readers agree).
            return verifier, peek, Compression.NONE, diff_hasher, _Counter()
        stream = open_decompressed(peek, compression, source.label, notes)
    except BaseException:  # a missing blob, a wrong media type: the callers' cleanup has not begun
        if verifier is not None:
            verifier.close()  # and its lane
        raise
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


def _finish(source: LayerSource, verifier: VerifyingReader, stream: object, diff_hasher: "hashlib._Hash | HashBehind") -> None:
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


def index_layer(source: LayerSource, layer: int, limits: Limits, scan_secrets: bool = False,
                report: Callable[[int], None] | None = None, keep: Keep | None = None) -> LayerIndex:
    """Index one layer blob in a single verified pass (with `scan_secrets`, small files are also
    searched for secrets while they are hashed; `report` is told the blob bytes read, every few
    MB; with `keep`, small files' bytes are copied there). Raises InspectrError subclasses."""
    notices: list[Notice] = []

    def warn(code: str, message: str) -> None:
        notices.append(Notice(code, "", layer, message))

    verifier, stream, compression, diff_hasher, counter = _open_tar_stream(source, limits, warn, report)
    keeper = None
    try:
        keeper = _Keeper(keep) if keep is not None else None
        blocks = StreamBlocks(stream, [diff_hasher, counter], limits.max_layer_bytes, source.label)
        secrets: list[tuple[str, list[SecretMatch]]] | None = [] if scan_secrets else None
        evidence: list[Evidence] = []
        try:
            entries = _index_members(TarWalker(blocks, limits, source.label, warn), layer, limits, notices, secrets,
                                     evidence, keeper, verifier.lane)
        except InspectrError as err:
            _blame_integrity(verifier, err)
            raise
        _finish(source, verifier, stream, diff_hasher)
        diff_id = f"{diff_hasher.name}:{diff_hasher.hexdigest()}"  # before the finally closes the lane
        if keeper is not None:
            keeper.finish()
    except BaseException:
        if keeper is not None:
            keeper.abort()  # Ctrl-C, SIGTERM or a failed blob: nothing of it stays behind
        raise
    finally:
        verifier.close()
    return LayerIndex(
        layer=layer,
        entries=entries,
        notices=notices,
        digest=str(source.digest) if source.digest else None,
        diff_id=diff_id,
        compressed_size=verifier.count,
        uncompressed_size=counter.n,
        compression=compression.value,
        media_type=source.media_type,
        secrets=secrets or [],
        evidence=evidence,
        gzip_members=getattr(stream, "members", 0) if compression is Compression.GZIP else 0,
    )


def verify_blob(source: LayerSource, report: Callable[[int], None] | None = None) -> int:
    """Stream a blob only to check its size and digest (for a copy of a blob already indexed
    elsewhere: equal digests mean equal bytes, so the index carries over). Returns its size."""
    verifier = VerifyingReader(_open_blob(source, report), source.digest, source.size, source.label)
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
    evidence: list[Evidence] = []
    entries = _index_members(TarWalker(blocks, limits, f"layer {layer}", warn), layer, limits, notices, None, evidence)
    return LayerIndex(layer, entries, notices, None, f"sha256:{diff_hasher.hexdigest()}", len(data), len(data),
                      evidence=evidence)


class _GoScan:
    """Hashes, and looks for Go build info until the scanner has its answer."""

    __slots__ = ("hasher", "scanner", "feeding")

    def __init__(self, path: str, layer: int) -> None:
        self.hasher = hashlib.sha256()
        self.scanner = GoBuildInfoScanner(path, layer)
        self.feeding = True

    def update(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        if self.feeding and self.scanner.feed(data):
            self.feeding = False


def _keep_go(found: GoBuildInfo | Notice | None, path: str, offset: int, evidence: list[Evidence],
             notices: list[Notice]) -> None:
    if isinstance(found, GoBuildInfo):
        evidence.append(("go", path, offset, found.raw))
    elif found is not None:
        notices.append(found)


def _jar_evidence(path: str, layer: int, data: bytes, notices: list[Notice]) -> bytes | None:
    """The Maven packages a jar names, as JSON kept with the index (read_jar's notices go to the
    layer's notices)."""
    try:
        found = read_jar(data, path, layer)
    except PackageDbError as err:
        notices.append(Notice("package-db-unreadable", path, layer, str(err)))
        return None
    notices.extend(found.notices)
    if not found.packages:
        return None
    return json.dumps([[p.name, p.version, p.location, p.parent] for p in found.packages]).encode()


@dataclass(frozen=True, slots=True)
class Keep:
    """Where an indexing pass also copies the bytes of regular files (up to `max_file` each,
    `budget` in all), so that a diff reads the changed ones from there instead of inflating the
    layer a second time. `path` is
    a new data file; its map, (member offset, position, length) triples, goes to `path`.map
    once the pass succeeded. Best effort: a write that fails stops the copying, not the pass."""

    path: str
    max_file: int = 64 << 20  # diff's content limit (DiffOptions.max_classify_bytes)
    budget: int = 256 << 20
    max_files: int = 200_000  # the map's records are memory in the worker (a layer of tiny files)

    def read_map(self) -> dict[int, tuple[int, int]]:
        """{member offset: (position, length)}; empty when the pass kept nothing usable."""
        try:
            with open(self.path + ".map", "rb") as fp:
                triples = json.loads(fp.read(64 << 20))
            return {int(o): (int(p), int(n)) for o, p, n in triples}
        except (OSError, ValueError, TypeError):
            return {}


class _Keeper:
    __slots__ = ("keep", "fp", "left", "records", "broken")

    def __init__(self, keep: Keep) -> None:
        self.keep = keep
        self.left = keep.budget
        self.records: list[tuple[int, int, int]] = []
        self.broken = False
        self.fp: BinaryIO | None = None
        try:
            self.fp = open(keep.path, "xb")  # noqa: SIM115 - closed by finish/abort
        except OSError:
            self.broken = True

    def wants(self, size: int) -> bool:
        return (not self.broken and 0 < size <= self.keep.max_file and size <= self.left
                and len(self.records) < self.keep.max_files)

    def write(self, data: bytes | memoryview) -> None:
        if self.broken or self.fp is None:
            return
        try:
            self.fp.write(data)
        except OSError:  # a full disk: the diff re-reads instead
            self.broken = True

    def kept(self, offset: int, start: int) -> None:
        assert self.fp is not None
        length = self.fp.tell() - start
        self.records.append((offset, start, length))
        self.left -= length

    def add(self, offset: int, data: bytes) -> None:
        if self.wants(len(data)):
            assert self.fp is not None
            start = self.fp.tell()
            self.write(data)
            self.kept(offset, start)

    def finish(self) -> None:
        if self.fp is None:
            return
        try:
            self.fp.close()
            self.fp = None
            if not self.broken:
                with open(self.keep.path + ".map", "x", encoding="ascii") as out:
                    json.dump(self.records, out, separators=(",", ":"))
                return
        except OSError:
            pass
        self.abort()

    def abort(self) -> None:
        if self.fp is not None:
            self.fp.close()
            self.fp = None
        for name in (self.keep.path, self.keep.path + ".map"):
            try:
                os.unlink(name)
            except OSError:
                pass


class _KeptHash:
    """Hashes a member's bytes and copies them to the keeper."""

    __slots__ = ("hasher", "write")

    def __init__(self, hasher: "hashlib._Hash | HashBehind", write: Callable[[bytes | memoryview], None]) -> None:
        self.hasher = hasher
        self.write = write

    def update(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        self.write(data)


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
                   secrets: list[tuple[str, list[SecretMatch]]] | None = None,
                   evidence: list[Evidence] | None = None, keeper: _Keeper | None = None,
                   lane: HashLane | None = None) -> list[Entry]:
    # Names, link targets and whiteout markers are classified in untrusted/members.py; this loop
    # hashes content and turns records into entries. It runs once per member (millions on big
    # images), hence the local names.
    entries: list[Entry] = []
    append = entries.append
    sha256 = hashlib.sha256
    classify = classify_member
    file_kind, whiteout_kind, opaque_kind = EntryKind.FILE, EntryKind.WHITEOUT, EntryKind.OPAQUE
    what = f"layer {layer}"
    kept = 0
    later: list[tuple[int, HashBehind]] = []  # (entry number, its hasher on the lane)
    for member in walker:
        record = classify(member, limits, what)
        path = record.path
        if record.notices:
            for code, message in record.notices:
                notices.append(Notice(code, path, layer, message))
        kind = record.kind
        digest: bytes | None = None
        if kind is file_kind:
            wanted = evidence_kind(path, member.mode, member.size) if evidence is not None else None
            small = secrets is not None and 0 < member.size <= SCAN_MAX_BYTES
            if wanted is None and not small:
                hasher: "hashlib._Hash | HashBehind" = (
                    HashBehind(sha256(), lane) if lane is not None and member.size >= _LANE_FILE_BYTES else sha256())
                if isinstance(hasher, HashBehind):
                    later.append((len(entries), hasher))
                if keeper is not None and keeper.wants(member.size):
                    start = keeper.fp.tell()  # type: ignore[union-attr]
                    walker.consume(member, _KeptHash(hasher, keeper.write))
                    keeper.kept(member.offset, start)
                else:
                    walker.consume(member, hasher)
                # On the lane, the digest is filled in once the lane is drained, after the walk.
                digest = None if isinstance(hasher, HashBehind) else hasher.digest()
            elif wanted == "exec" and not small:
                scan = _GoScan(path, layer)
                if keeper is not None and keeper.wants(member.size):
                    start = keeper.fp.tell()  # type: ignore[union-attr]
                    walker.consume(member, _KeptHash(scan, keeper.write))  # type: ignore[arg-type]
                    keeper.kept(member.offset, start)
                else:
                    walker.consume(member, scan)
                digest = scan.hasher.digest()
                _keep_go(scan.scanner.result(), path, member.offset, evidence, notices)  # type: ignore[arg-type]
            elif wanted == "jar" and member.size > MAX_JAR_BYTES:
                hasher = sha256()
                walker.consume(member, hasher)
                digest = hasher.digest()
                notices.append(Notice("jar-over-limit", path, layer,
                                      f"jar not read for packages: {member.size} bytes, over {MAX_JAR_BYTES >> 20} MiB"))
            else:  # held in memory: a package database, a jar, or a small file to scan for secrets
                tee = _Tee()
                walker.consume(member, tee)
                digest = tee.hasher.digest()
                data = bytes(tee.buf)
                if keeper is not None:
                    keeper.add(member.offset, data)
                if small:
                    found = scan_content(data)
                    if found:
                        secrets.append((path, found))  # type: ignore[union-attr]
                if wanted == "exec":
                    _keep_go(read_go_buildinfo(data, path, layer), path, member.offset, evidence, notices)  # type: ignore[arg-type]
                elif wanted == "jar":
                    jar = _jar_evidence(path, layer, data, notices)
                    if jar is not None:
                        evidence.append(("maven", path, member.offset, jar))  # type: ignore[union-attr]
                elif wanted == "db":
                    kept += len(data)
                    if kept <= MAX_EVIDENCE_BYTES:
                        evidence.append(("db", path, member.offset, data))  # type: ignore[union-attr]
                    else:
                        notices.append(Notice("package-evidence-over-limit", path, layer, "package database not kept: "
                                              f"the layer's evidence exceeds {MAX_EVIDENCE_BYTES >> 20} MiB"))
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
    if lane is not None and later:
        lane.drain()
        for number, behind in later:
            entries[number].sha256 = behind.digest()
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
