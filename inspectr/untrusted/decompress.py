"""In-process decompression of layer streams with bounded output per read (R20, R24).

No external binaries are ever run (CVE-2014-9357). Each reader returns at most `n` bytes per
`read(n)`, so a decompression bomb costs time, never memory.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Callable, Protocol

import zstandard

from ..errors import DecompressError
from ..mediatypes import Compression

try:  # isal is about twice as fast as zlib for inflate; zlib is the fallback.
    from isal import isal_zlib as _zlib

    _ZLIB_ERRORS: tuple[type[BaseException], ...] = (_zlib.error, ValueError)  # type: ignore[assignment]
    GZIP_BACKEND = "isal"
except ImportError:  # pragma: no cover - exercised only where isal is missing
    import zlib as _zlib  # type: ignore[no-redef]

    _ZLIB_ERRORS = (_zlib.error, ValueError)  # type: ignore[assignment]
    GZIP_BACKEND = "zlib"

__all__ = ["Compression", "Readable", "sniff", "open_decompressed", "PeekReader", "GZIP_BACKEND", "GzipSeeker"]

# indexed_gzip raises ZranError, NotCoveredError, CrcError (an OSError), OSError or ValueError for
# a bad index file. It is imported only when seek points are used: its import costs 0.03-0.16 s.
_SEEK_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, RuntimeError)

CHUNK = 1 << 18
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


def _is_zstd_skippable(head: bytes) -> bool:
    return len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and (head[0] & 0xF0) == 0x50


def sniff(head: bytes) -> Compression | str:
    """Compression by magic bytes; a str names a recognised but unsupported format."""
    if head[:2] == GZIP_MAGIC:
        return Compression.GZIP
    if head[:4] == ZSTD_MAGIC or _is_zstd_skippable(head):
        return Compression.ZSTD
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"BZh":
        return "bzip2"
    return Compression.NONE


class PeekReader:
    """Lets the first bytes be inspected and then read again."""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self._head = b""

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            more = self._raw.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0 or n >= len(self._head):
                out, self._head = self._head, b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read(n)


class _GzipReader:
    """Multi-member gzip. Non-gzip bytes after a member are ignored with a warning (R20)."""

    def __init__(self, raw: Readable, what: str, warn: Callable[[str, str], None]) -> None:
        self._raw = raw
        self._what = what
        self._warn = warn
        self._d = _zlib.decompressobj(wbits=31)
        self._tail = b""
        self._done = False
        self._in_member = True
        self.members = 1  # gzip members started; seek points are only used for a few (seekpoints.py)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        while not self._done:
            inp = self._tail
            try:
                out = self._d.decompress(inp, n) if (inp or self._in_member) else b""
            except _ZLIB_ERRORS as err:
                raise DecompressError(f"{self._what}: corrupt gzip stream: {err}") from err
            self._tail = self._d.unconsumed_tail
            if self._d.eof:
                # At a member's end the rest of the input is in unused_data; stdlib zlib (and isal
                # before 1.9) also leave it in unconsumed_tail, so adding both read it twice.
                self._next_member(self._d.unused_data)
            if out:
                return out
            if self._tail:
                continue
            more = self._raw.read(CHUNK)
            if not more:
                if self._in_member:
                    raise DecompressError(f"{self._what}: truncated gzip stream (unexpected end of data)")
                self._done = True
                break
            if not self._in_member:
                self._next_member(more)
            else:
                self._tail = more
        return b""

    def _next_member(self, rest: bytes) -> None:
        self._in_member = False
        self._tail = b""
        while len(rest) < 2:
            more = self._raw.read(CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            return
        if rest[:2] == GZIP_MAGIC:
            self._d = _zlib.decompressobj(wbits=31)
            self._tail = rest
            self._in_member = True
            self.members += 1
            return
        self._warn("gzip-trailing-data", f"{self._what}: ignoring non-gzip bytes after the last gzip member")
        while self._raw.read(CHUNK):  # still hashed by the verifying reader underneath
            pass
        self._done = True


class _ZstdFrameTracker:
    """Follows zstd frame and block headers over the compressed bytes, to detect truncation.

    python-zstandard's stream reader returns a short stream, not an error, when input stops
    mid-frame; Go's decoder (what runtimes use) fails. The tracker tells the two apart.
    """

    def __init__(self) -> None:
        self._need = 0  # bytes still to skip in the current element
        self._state = "magic"
        self._buf = b""
        self._checksum = False

    @property
    def at_boundary(self) -> bool:
        return self._state == "magic" and self._need == 0 and not self._buf

    def feed(self, data: bytes) -> None:
        pos = 0
        n = len(data)
        while pos < n:
            if self._need:
                take = min(self._need, n - pos)
                self._need -= take
                pos += take
                continue
            want = {"magic": 4, "fhd": 1, "skipsize": 4, "block": 3}.get(self._state, 0)
            if self._state == "header":
                want = self._header_len
            if len(self._buf) < want:
                take = min(want - len(self._buf), n - pos)
                self._buf += data[pos : pos + take]
                pos += take
                if len(self._buf) < want:
                    continue
            self._step()

    def _step(self) -> None:
        buf, self._buf = self._buf, b""
        if self._state == "magic":
            if buf == ZSTD_MAGIC:
                self._state = "fhd"
            elif _is_zstd_skippable(buf):
                self._state = "skipsize"
            else:
                raise DecompressError("zstd stream: bad frame magic")
        elif self._state == "skipsize":
            self._need = int.from_bytes(buf, "little")
            self._state = "magic"
        elif self._state == "fhd":
            fhd = buf[0]
            fcs_flag, single, checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
            fcs_len = (1 if single else 0, 2, 4, 8)[fcs_flag]
            self._header_len = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + fcs_len
            self._checksum = bool(checksum)
            self._state = "header"
            if self._header_len == 0:
                self._state = "block"
        elif self._state == "header":
            self._state = "block"
        elif self._state == "block":
            hdr = int.from_bytes(buf, "little")
            last, btype, size = hdr & 1, (hdr >> 1) & 3, hdr >> 3
            if btype == 3:
                raise DecompressError("zstd stream: reserved block type")
            self._need = 1 if btype == 1 else size
            if last:
                self._need += 4 if self._checksum else 0
                self._state = "magic"

    _header_len = 0


class _ZstdReader:
    def __init__(self, raw: Readable, what: str, max_window_bytes: int) -> None:
        self._what = what
        self._tracker = _ZstdFrameTracker()
        dctx = zstandard.ZstdDecompressor(max_window_size=max_window_bytes)
        # The source must not point back at this reader: zstandard's C reader does not take part
        # in garbage collection, so a cycle through it is never freed (about 10 KiB per layer).
        source = _ZstdSource(raw, self._tracker, what)
        # the stubs want IO[bytes]; zstandard only calls .read(n) on its source
        self._reader = dctx.stream_reader(source, read_size=CHUNK, read_across_frames=True)  # type: ignore[arg-type]
        self._done = False

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        if n is None or n < 0:
            n = 1 << 20
        try:
            out = self._reader.read(n)
        except zstandard.ZstdError as err:
            raise DecompressError(f"{self._what}: corrupt zstd stream: {err}") from err
        if not out:
            self._done = True
            if not self._tracker.at_boundary:
                raise DecompressError(f"{self._what}: truncated zstd stream (unexpected end of data)")
        return out


class _ZstdSource:
    """What zstandard pulls compressed bytes from (`.read(n)`): the raw stream, each chunk also
    fed to the frame tracker."""

    def __init__(self, raw: Readable, tracker: _ZstdFrameTracker, what: str) -> None:
        self._raw = raw
        self._tracker = tracker
        self._what = what

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        if data:
            try:
                self._tracker.feed(data)
            except DecompressError as err:
                raise DecompressError(f"{self._what}: {err.message}") from err
        return data


def open_decompressed(
    raw: Readable,
    compression: Compression,
    what: str,
    warn: Callable[[str, str], None],
    max_window_bytes: int = 1 << 27,
) -> Readable:
    """A reader of the uncompressed bytes. `compression` has been chosen by the caller."""
    match compression:
        case Compression.NONE:
            return raw
        case Compression.GZIP:
            return _GzipReader(raw, what, warn)
        case Compression.ZSTD:
            return _ZstdReader(raw, what, max_window_bytes)


class GzipSeeker:
    """Random access into a gzip blob through zran access points (indexed_gzip: a 32 KiB window
    every `spacing` uncompressed bytes, plus one per member). Points are imported from
    `points` (what `export()` gave earlier) and extended as reads go further.

    Nothing read here is trusted: callers check every byte against a digest from a verified
    pass, so a wrong point yields a mismatch, never accepted bytes. Each `read(n)` returns at most
    n bytes; the points held grow with the span read (at most one per `spacing` bytes), so the
    caller picks `spacing` from the layer's verified uncompressed size.
    """

    def __init__(self, raw: BinaryIO, spacing: int, points: bytes | None, what: str) -> None:
        """`raw`: the compressed blob, seekable (sources' SliceReader); closed with the seeker."""
        import indexed_gzip

        self._what = what
        self._raw = raw
        try:
            self._f = indexed_gzip.IndexedGzipFile(fileobj=self._raw, spacing=spacing, readbuf_size=1 << 18,
                                                   buffer_size=1 << 18, skip_crc_check=True)
        except _SEEK_ERRORS as err:
            self._raw.close()
            raise DecompressError(f"{what}: cannot open for seeking: {err}") from err
        self.imported = 0
        if points is not None:
            try:
                self._f.import_index(fileobj=io.BytesIO(points))
            except _SEEK_ERRORS as err:
                self.close()
                raise DecompressError(f"{what}: unusable seek points: {err}") from err
            self.imported = self.points()

    def points(self) -> int:
        return sum(1 for _ in self._f.seek_points())

    def seek(self, offset: int) -> None:
        try:
            self._f.seek(offset)
        except _SEEK_ERRORS as err:
            raise DecompressError(f"{self._what}: cannot seek to uncompressed offset {offset}: {err}") from err

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        try:
            return bytes(self._f.read(n))
        except _SEEK_ERRORS as err:
            raise DecompressError(f"{self._what}: corrupt gzip stream: {err}") from err

    def export(self) -> bytes:
        out = io.BytesIO()
        try:
            self._f.export_index(fileobj=out)
        except _SEEK_ERRORS as err:
            raise DecompressError(f"{self._what}: cannot export seek points: {err}") from err
        return out.getvalue()

    def close(self) -> None:
        try:
            self._f.close()
        except _SEEK_ERRORS:
            pass
        self._raw.close()
