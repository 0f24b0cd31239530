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

__all__ = ["Compression", "Readable", "sniff", "open_decompressed", "PeekReader", "GZIP_BACKEND", "GzipSeeker",
           "ZstdSeeker", "zstd_has_several_frames", "MAX_ZSTD_ELEMENTS"]

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

    def grew(self) -> bool:
        """Whether reads added points to those imported (so `export()` is worth storing)."""
        return self.points() > self.imported

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


# Stored zstd frame boundaries: this tag, then (compressed offset, uncompressed offset) pairs.
_FRAMES_TAG = b"inspectr-zstd-frames-1\n"
# Frame and block headers walked per seek, besides one per 256 bytes decoded: zstd:chunked has
# two frames per file (a tar header run, the content), so a layer of 100-byte files has one per
# ~300 bytes, while a stream of millions of empty blocks or frames would cost seconds of Python
# and decode nothing. Past it the read falls back to the full pass.
MAX_ZSTD_ELEMENTS = 1 << 18


def _zstd_header_rest(fhd: int) -> int:
    """Bytes of a frame header after its descriptor byte (RFC 8878 3.1.1.1): window descriptor
    (absent for a single segment), dictionary ID and frame content size."""
    fcs_flag, single, did_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    return (0 if single else 1) + (0, 1, 2, 4)[did_flag] + (1 if single else 0, 2, 4, 8)[fcs_flag]


def _zstd_block(header: bytes, what: str) -> tuple[bool, int]:
    """(last block, bytes that follow the 3-byte block header) (RFC 8878 3.1.1.2)."""
    value = int.from_bytes(header, "little")
    btype, size = (value >> 1) & 3, value >> 3
    if btype == 3:
        raise DecompressError(f"{what}: corrupt zstd stream: reserved block type")
    return bool(value & 1), 1 if btype == 1 else size


def _read_exact(raw: Readable, n: int, what: str) -> bytes:
    data = raw.read(n)
    while 0 < len(data) < n:
        more = raw.read(n - len(data))
        if not more:
            break
        data += more
    if 0 < len(data) < n:
        raise DecompressError(f"{what}: truncated zstd stream (unexpected end of data)")
    return data


def zstd_has_several_frames(raw: BinaryIO, what: str, max_elements: int = MAX_ZSTD_ELEMENTS) -> bool:
    """Whether a zstd blob holds a second data frame after its first (skippable frames do not
    count), from frame and block headers alone: nothing is decompressed, block contents are
    seeked over, and after `max_elements` headers the answer is False (read it in full).
    Raises DecompressError on a malformed header; `raw` is left open."""
    pos = data_frames = 0
    for _ in range(max_elements):
        raw.seek(pos)
        magic = _read_exact(raw, 4, what)
        if not magic:
            return False
        if _is_zstd_skippable(magic):
            pos += 8 + int.from_bytes(_read_exact(raw, 4, what), "little")
            continue
        if magic != ZSTD_MAGIC:
            raise DecompressError(f"{what}: corrupt zstd stream: bad frame magic at byte {pos}")
        data_frames += 1
        if data_frames > 1:
            return True
        fhd = _read_exact(raw, 1, what)
        if not fhd:
            raise DecompressError(f"{what}: truncated zstd stream (unexpected end of data)")
        pos += 5 + _zstd_header_rest(fhd[0])
        while True:
            raw.seek(pos)
            header = _read_exact(raw, 3, what)
            if not header:
                raise DecompressError(f"{what}: truncated zstd stream (unexpected end of data)")
            last, size = _zstd_block(header, what)
            pos += 3 + size
            max_elements -= 1
            if max_elements <= 0:
                return False
            if last:
                break
        pos += 4 if fhd[0] & 4 else 0
    return False


class _OneFrame:
    """zstandard's source for one data frame: the frame's bytes, walked by their headers, then
    end of input, so that the decompressor stops at the frame's end and the next frame's
    compressed offset is known exactly. Counts the headers against a shared budget."""

    def __init__(self, raw: Readable, magic: bytes, what: str, spend: Callable[[], None]) -> None:
        self._raw = raw
        self._what = what
        self._spend = spend
        self._pending = magic
        self._need = 0
        self._state = "fhd"
        self._checksum = False
        self.size = len(magic)

    @property
    def done(self) -> bool:
        return self._state == "end" and not self._need and not self._pending

    def read(self, n: int) -> bytes:
        parts = [self._pending]
        have = len(self._pending)
        while have < n and not (self._state == "end" and not self._need):
            if self._need:
                data = self._raw.read(min(self._need, max(n - have, 1 << 12)))
                if not data:
                    raise DecompressError(f"{self._what}: truncated zstd stream (unexpected end of data)")
                self._need -= len(data)
            else:
                data = self._header()
            parts.append(data)
            have += len(data)
            self.size += len(data)
        joined = b"".join(parts)
        out, self._pending = joined[:n], joined[n:]
        return out

    def _header(self) -> bytes:
        self._spend()
        if self._state == "fhd":
            data = _read_exact(self._raw, 1, self._what)
            if not data:
                raise DecompressError(f"{self._what}: truncated zstd stream (unexpected end of data)")
            self._checksum = bool(data[0] & 4)
            self._need = _zstd_header_rest(data[0])
            self._state = "block"
            return data
        if self._state == "block":
            data = _read_exact(self._raw, 3, self._what)
            if not data:
                raise DecompressError(f"{self._what}: truncated zstd stream (unexpected end of data)")
            last, self._need = _zstd_block(data, self._what)
            if last:
                self._state = "checksum" if self._checksum else "end"
            return data
        self._need, self._state = 4, "end"  # the content checksum
        return b""


class ZstdSeeker:
    """Random access into a zstd blob of several frames, through frame boundaries: pairs of
    (compressed offset, uncompressed offset) where a data frame starts, since a frame decodes
    on its own. Boundaries are imported from `points` (what `export()` gave earlier) and recorded
    as reads pass frames not seen before: one every `spacing` uncompressed bytes, at most
    `max_points`, plus the furthest frame reached. Skippable frames are stepped over.

    Nothing read here is trusted: callers check every byte against a digest from a verified
    pass, so a wrong boundary yields a mismatch, never accepted bytes. Each `read(n)` returns at
    most n bytes, and a frame is decoded as a stream with the window capped at
    `max_window_bytes`, so a frame that claims a huge size or window is refused, not allocated.
    """

    def __init__(self, raw: BinaryIO, spacing: int, points: bytes | None, what: str, max_points: int,
                 max_window_bytes: int = 1 << 27) -> None:
        """`raw`: the compressed blob, seekable (sources' SliceReader); closed with the seeker."""
        self._raw = raw
        self._what = what
        self._spacing = spacing
        self._max_points = max_points
        self._dctx = zstandard.ZstdDecompressor(max_window_size=max_window_bytes)
        self._points: list[tuple[int, int]] = [(0, 0)]
        if points is not None:
            try:
                self._points = self._parse(points)
            except DecompressError:
                raw.close()
                raise
        self._frontier = self._points[-1]
        self.imported = len(self._points)
        self._c, self._u = 0, 0  # where the next frame starts, and the uncompressed offset reached
        self._frame: _OneFrame | None = None
        self._reader: zstandard.ZstdDecompressionReader | None = None
        self._elements = 0  # headers walked since the last seek, from uncompressed offset _seek_u
        self._seek_u = 0
        self._raw.seek(0)

    def _parse(self, points: bytes) -> list[tuple[int, int]]:
        body = points[len(_FRAMES_TAG):]
        if not points.startswith(_FRAMES_TAG) or len(body) % 16 or not 0 < len(body) // 16 <= self._max_points + 1:
            raise DecompressError(f"{self._what}: unusable zstd frame boundaries")
        pairs = [(int.from_bytes(body[i:i + 8], "little"), int.from_bytes(body[i + 8:i + 16], "little"))
                 for i in range(0, len(body), 16)]
        if pairs[0] != (0, 0) or any(c2 <= c1 or u2 < u1 for (c1, u1), (c2, u2) in zip(pairs, pairs[1:])):
            raise DecompressError(f"{self._what}: unusable zstd frame boundaries")
        return pairs

    def points(self) -> int:
        return len(self._points) + (self._frontier != self._points[-1])

    def grew(self) -> bool:
        """Whether reads went past the boundaries imported (so `export()` is worth storing)."""
        return self._frontier > self._points[-1] or len(self._points) > self.imported

    def export(self) -> bytes:
        pairs = self._points + ([self._frontier] if self._frontier != self._points[-1] else [])
        return _FRAMES_TAG + b"".join(c.to_bytes(8, "little") + u.to_bytes(8, "little") for c, u in pairs)

    def seek(self, offset: int) -> None:
        known = max((p for p in (*self._points, self._frontier) if p[1] <= offset), key=lambda p: (p[1], p[0]))
        if not known[1] <= self._u <= offset:  # reading on from here is not shorter: restart at a boundary
            self._c, self._u = known
            self._frame = self._reader = None
            self._raw.seek(self._c)
        self._elements, self._seek_u = 0, self._u
        while self._u < offset:
            if not self.read(min(offset - self._u, 1 << 20)):
                raise DecompressError(f"{self._what}: cannot seek to uncompressed offset {offset}: past the end")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        if n == 0:
            return b""
        while True:
            if self._reader is None and not self._next_frame():
                return b""
            assert self._reader is not None and self._frame is not None
            try:
                out = self._reader.read(n)
            except zstandard.ZstdError as err:
                raise DecompressError(f"{self._what}: corrupt zstd stream: {err}") from err
            if out:
                self._u += len(out)
                return out
            if not self._frame.done:
                raise DecompressError(f"{self._what}: corrupt zstd stream: a frame ends before its last block")
            self._c += self._frame.size
            self._frame = self._reader = None

    def _next_frame(self) -> bool:
        while True:
            magic = _read_exact(self._raw, 4, self._what)
            if not magic:
                return False
            self._spend()
            if _is_zstd_skippable(magic):
                self._c += 8 + int.from_bytes(_read_exact(self._raw, 4, self._what), "little")
                self._raw.seek(self._c)
                continue
            if magic != ZSTD_MAGIC:
                raise DecompressError(f"{self._what}: corrupt zstd stream: bad frame magic at byte {self._c}")
            break
        here = (self._c, self._u)
        if here[0] > self._frontier[0]:
            self._frontier = here
            if here[1] - self._points[-1][1] >= self._spacing and len(self._points) < self._max_points:
                self._points.append(here)
        self._frame = _OneFrame(self._raw, magic, self._what, self._spend)
        # One frame per reader: its source ends where the frame ends (the stubs want IO[bytes]).
        self._reader = self._dctx.stream_reader(self._frame, read_size=CHUNK,  # type: ignore[arg-type]
                                                read_across_frames=False)
        return True

    def _spend(self) -> None:
        self._elements += 1
        if self._elements > MAX_ZSTD_ELEMENTS + ((self._u - self._seek_u) >> 8):
            raise DecompressError(f"{self._what}: too many zstd frames or blocks to seek through")

    def close(self) -> None:
        self._reader = None
        self._raw.close()
