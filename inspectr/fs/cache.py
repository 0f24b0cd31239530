"""A content-addressed cache of LayerIndexes (DESIGN.md decision 2).

An index depends only on a layer's bytes, so it is stored under the verified layer digest (with
the media type, the diff_id and whether secrets were scanned). Entries are zstd-compressed JSON
(never pickle: a cache file must not be able to run code), carry a format version, their key
and the sha256 of their payload, and are written atomically (temp file + rename), so two
processes writing the same entry cannot corrupt it. A corrupt, foreign or mismatched entry is
ignored and rebuilt, never trusted. A hit still reads the blob once to check its digest and
size: only inflating and walking the tar are skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import zstandard

from ..errors import UsageError
from ..mediatypes import Compression
from ..untrusted.secrets import SecretMatch
from .entry import Entry, EntryKind, Notice
from .layer_index import LayerIndex, LayerSource

__all__ = ["LayerCache", "default_cache_dir", "CacheEntry", "prune_unused", "encode_index", "decode_index", "VERSION"]

FORMAT = "inspectr-layer-index"
# 2: package evidence kept with the index; 3: dpkg's diversions file among it; 4: the count of gzip
# members (seek points are used only when it is known and small: fs/seekpoints.py)
VERSION = 4
SEEK_FORMAT = "inspectr-gzip-seek-points"
SEEK_VERSION = 1
# Seek files per compression: (file kind, format name). gzip's are as before; zstd frame
# boundaries (fs/seekpoints.py) have their own, so neither kind is ever read as the other.
_SEEK_KINDS = {Compression.GZIP: ("seek", SEEK_FORMAT), Compression.ZSTD: ("seek-zstd", "inspectr-zstd-frame-boundaries")}
_MAX_ENTRY_BYTES = 1 << 30


def prune_unused(entries: Iterable[tuple[Path, int, float]], older_than_days: float | None,
                 remove: Callable[[Path], None]) -> tuple[int, int]:
    """Remove each (path, bytes, last use) unused for `older_than_days` (all when None), for
    every kind of cache entry (layer indexes, pulled blobs, unpacked layers). Returns (count, bytes)."""
    count = size = 0
    limit = None if older_than_days is None else time.time() - older_than_days * 86400
    for path, nbytes, used in entries:
        if limit is None or used < limit:
            try:
                remove(path)
            except OSError:
                continue
            count, size = count + 1, size + nbytes
    return count, size


def default_cache_dir() -> Path:
    """$INSPECTR_CACHE_DIR, else $XDG_CACHE_HOME/inspectr, else ~/.cache/inspectr."""
    if os.environ.get("INSPECTR_CACHE_DIR"):
        return Path(os.environ["INSPECTR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inspectr"


def check_private_dir(directory: Path) -> None:
    """The cache is trusted input for later runs (its entries skip the inflate), so it must be
    the user's own: refuse one owned by someone else or writable by group or others. A missing
    one is created 0700."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(directory)
    except OSError as err:
        raise UsageError(f"{directory}: cannot use as the cache dir: {err.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{directory}: the cache dir is not a directory")
    if st.st_uid != os.geteuid():
        raise UsageError(f"{directory}: the cache dir is owned by uid {st.st_uid}, not by you "
                         "(another user could plant entries); use --cache-dir DIR or --no-cache")
    if st.st_mode & 0o022:
        raise UsageError(f"{directory}: the cache dir is writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                         "chmod go-w it, or use --cache-dir DIR or --no-cache")


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: str
    size: int
    mtime: float


def _key(source: LayerSource, scan_secrets: bool) -> str | None:
    if source.digest is None or not source.digest.verifiable:
        return None  # legacy docker-save layers have no blob digest to key on
    return f"{source.digest}|{source.media_type or ''}|{source.diff_id or ''}|{int(scan_secrets)}"


_KINDS = {kind.value: kind for kind in EntryKind}


def _encode(index: LayerIndex) -> dict[str, Any]:
    def entry(e: Entry) -> list[Any]:
        return [e.path, e.kind.value, e.mode, e.uid, e.gid, e.size, e.mtime_ns, e.linkname,
                e.sha256.hex() if e.sha256 is not None else None, e.offset,
                {k: base64.b64encode(v).decode() for k, v in e.xattrs.items()} if e.xattrs else None,
                e.devmajor, e.devminor, e.raw_name]

    return {
        "entries": [entry(e) for e in index.entries],
        "notices": [[n.code, n.path, n.layer, n.message] for n in index.notices],
        "digest": index.digest, "diff_id": index.diff_id, "compressed_size": index.compressed_size,
        "uncompressed_size": index.uncompressed_size, "compression": index.compression, "media_type": index.media_type,
        "secrets": [[path, [[m.kind, m.severity, m.redacted, m.line] for m in matches]] for path, matches in index.secrets],
        "evidence": [[kind, path, offset, base64.b64encode(data).decode()] for kind, path, offset, data in index.evidence],
        "gzip_members": index.gzip_members,
    }


def _decode(doc: dict[str, Any], layer: int) -> LayerIndex:
    kinds = _KINDS  # a dict lookup: EntryKind(value) is a slow call per entry; unknown -> KeyError
    entries = [
        Entry(p, kinds[k], mode, uid, gid, size, mtime, link, bytes.fromhex(sha) if sha else None, offset,
              {key: base64.b64decode(val) for key, val in xattrs.items()} if xattrs else None, major, minor, raw)
        for p, k, mode, uid, gid, size, mtime, link, sha, offset, xattrs, major, minor, raw in doc["entries"]
    ]
    return LayerIndex(
        layer=layer, entries=entries,
        notices=[Notice(code, path, layer, message) for code, path, _, message in doc["notices"]],
        digest=doc["digest"], diff_id=doc["diff_id"], compressed_size=doc["compressed_size"],
        uncompressed_size=doc["uncompressed_size"], compression=doc["compression"], media_type=doc["media_type"],
        secrets=[(path, [SecretMatch(*m) for m in matches]) for path, matches in doc["secrets"]],
        evidence=[(kind, path, offset, base64.b64decode(data)) for kind, path, offset, data in doc["evidence"]],
        gzip_members=int(doc["gzip_members"]),
    )


def encode_index(index: LayerIndex) -> dict[str, Any]:
    """An index as the cache's JSON document (format VERSION); the fleet store keeps the same."""
    return _encode(index)


def decode_index(doc: dict[str, Any], layer: int) -> LayerIndex:
    """The index `encode_index` wrote, placed at `layer`. Raises ValueError, KeyError or
    TypeError on a corrupt document."""
    return _decode(doc, layer)


def read_entry(path: Path, fmt: str, version: int, key: str) -> Any:
    """The payload of a cache entry, or None when it is missing, corrupt or foreign (another format,
    version or key, or a payload that does not match its sha256). Marks the entry used."""
    payload = read_raw_entry(path, fmt, version, key)
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None


def read_raw_entry(path: Path, fmt: str, version: int, key: str) -> bytes | None:
    """`read_entry` for an entry whose payload is bytes, not JSON (the same header and checks)."""
    try:
        with open(path, "rb") as fp:
            raw = fp.read(_MAX_ENTRY_BYTES)
        data = zstandard.ZstdDecompressor().decompress(raw, max_output_size=_MAX_ENTRY_BYTES)
        header_line, _, payload = data.partition(b"\n")
        header = json.loads(header_line)
        if not isinstance(header, dict) or (header.get("format"), header.get("version"), header.get("key")) != (
                fmt, version, key):
            return None
        if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
            return None
    except (OSError, ValueError, zstandard.ZstdError):
        return None
    try:
        os.utime(path)  # last use, for `cache prune`
    except OSError:
        pass
    return payload


def write_entry(path: Path, fmt: str, version: int, key: str, doc: Any) -> None:
    """Store `doc` as a cache entry: zstd JSON with a header (format, version, key, payload
    sha256), written atomically. A cache dir that cannot be written only costs speed."""
    write_raw_entry(path, fmt, version, key, json.dumps(doc, separators=(",", ":")).encode())


def write_raw_entry(path: Path, fmt: str, version: int, key: str, payload: bytes) -> None:
    """`write_entry` for a payload of bytes."""
    header = json.dumps({"format": fmt, "version": version, "key": key,
                         "payload_sha256": hashlib.sha256(payload).hexdigest()}).encode()
    data = zstandard.ZstdCompressor(level=3).compress(header + b"\n" + payload)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
        os.replace(tmp, path)
    except BaseException as err:  # a full disk, or SIGTERM/SIGINT mid-write: no .tmp-* is left
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if not isinstance(err, OSError):
            raise


class LayerCache:
    """`get` returns a trusted-format index or None; `put` stores one atomically."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _file(self, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.dir / "layers" / name[:2] / f"{name}.json.zst"

    def get(self, source: LayerSource, layer: int, scan_secrets: bool = False) -> LayerIndex | None:
        key = _key(source, scan_secrets)
        if key is None:
            return None
        path = self._file(key)
        doc = read_entry(path, FORMAT, VERSION, key)
        if doc is None:
            return None
        try:
            index = _decode(doc, layer)
        except (ValueError, KeyError, TypeError):
            return None  # corrupt or foreign: rebuilt by the caller
        return index

    def has(self, source: LayerSource, scan_secrets: bool = False) -> bool:
        """Whether an entry exists (it may still turn out corrupt or foreign: `get` decides)."""
        key = _key(source, scan_secrets)
        return key is not None and self._file(key).is_file()

    def put(self, source: LayerSource, index: LayerIndex, scan_secrets: bool = False) -> None:
        key = _key(source, scan_secrets)
        if key is None:
            return
        write_entry(self._file(key), FORMAT, VERSION, key, _encode(index))

    def _seek_file(self, key: str, kind: str = "seek") -> Path:
        name = hashlib.sha256(f"{key}|{kind}".encode()).hexdigest()
        return self.dir / "layers" / name[:2] / f"{name}.{kind}.json.zst"

    def has_seek_points(self, source: LayerSource, compression: Compression | None = None) -> bool:
        """Whether seek points of that compression (any, when None) are stored for this blob (not
        whether they are intact)."""
        key = _key(source, False)
        kinds = _SEEK_KINDS.values() if compression is None else [_SEEK_KINDS[compression]]
        return key is not None and any(self._seek_file(key, kind).is_file() for kind, _ in kinds)

    def get_seek_points(self, source: LayerSource, compression: Compression = Compression.GZIP) -> bytes | None:
        """The seek points stored for this blob (gzip access points, or zstd frame boundaries), or
        None (missing, corrupt, foreign: each compression has its own file and format name, so one
        is never read as the other). They are a hint: readers check every file they read through
        them against its indexed sha256."""
        key = _key(source, False)
        if key is None:
            return None
        kind, fmt = _SEEK_KINDS[compression]
        return read_raw_entry(self._seek_file(key, kind), fmt, SEEK_VERSION, f"{key}|{kind}")

    def put_seek_points(self, source: LayerSource, points: bytes | None,
                        compression: Compression = Compression.GZIP) -> None:
        """Store (or, with None, remove) the seek points of a blob, next to its layer index."""
        key = _key(source, False)
        if key is None:
            return
        kind, fmt = _SEEK_KINDS[compression]
        path = self._seek_file(key, kind)
        if points is None:
            try:
                path.unlink()
            except OSError:
                pass
            return
        write_raw_entry(path, fmt, SEEK_VERSION, f"{key}|{kind}", points)

    def was_read(self, source: LayerSource) -> bool:
        """Whether a content read of this blob was noted before (`note_read`)."""
        key = _key(source, False)
        return key is not None and read_entry(self._seek_file(key, "read"), SEEK_FORMAT, SEEK_VERSION, f"{key}|read") == {}

    def note_read(self, source: LayerSource) -> None:
        key = _key(source, False)
        if key is not None:
            write_entry(self._seek_file(key, "read"), SEEK_FORMAT, SEEK_VERSION, f"{key}|read", {})

    def entries(self) -> list[CacheEntry]:
        out: list[CacheEntry] = []
        base = self.dir / "layers"
        if not base.is_dir():
            return out
        for path in sorted(base.glob("*/*.json.zst")):
            try:
                st = path.stat()
                with open(path, "rb") as fp:
                    # The header is the first line; a seek-point entry's first zstd block is
                    # incompressible (up to 128 KiB), so read on until the line is complete.
                    unpack = zstandard.ZstdDecompressor().decompressobj()
                    head = unpack.decompress(fp.read(4096))
                    while b"\n" not in head and (more := fp.read(1 << 17)):
                        head += unpack.decompress(more)
                key = json.loads(head.partition(b"\n")[0]).get("key", "?")
            except (OSError, ValueError, zstandard.ZstdError):
                key = "(unreadable)"
                st = path.stat()
            out.append(CacheEntry(path, key, st.st_size, st.st_mtime))
        return out

    def prune(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Remove entries unused for `older_than_days` (all when None). Returns (count, bytes)."""
        return prune_unused(((e.path, e.size, e.mtime) for e in self.entries()), older_than_days, os.unlink)
