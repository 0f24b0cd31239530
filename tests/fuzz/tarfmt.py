"""Raw tar blocks for the mutators: build ustar headers byte by byte (so any field can hold any
bytes), find member boundaries in a stream without trusting it, and compress or inflate a layer
the way a tolerant reader would. Python's tarfile is not used: it repairs what we want to break."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import zstandard

__all__ = [
    "BLOCK", "FIELDS", "Hdr", "header", "member", "pax_payload", "fix_checksum", "walk", "padded",
    "sniff", "inflate", "compress", "sha256_hex",
]

BLOCK = 512
# name: (offset, length) in a ustar header block
FIELDS = {
    "name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12), "mtime": (136, 12),
    "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100), "magic": (257, 6), "version": (263, 2),
    "uname": (265, 32), "gname": (297, 32), "devmajor": (329, 8), "devminor": (337, 8), "prefix": (345, 155),
}
_CONTENT_TYPES = {b"0", b"\x00", b"7", b"x", b"g", b"L", b"K", b"S"}
MTIME = 1704067200


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def _octal(value: int, width: int) -> bytes:
    return (b"%0*o" % (width - 1, value))[-(width - 1):] + b"\0"


def fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % (sum(block) & 0o777777)


def header(name: bytes, *, size: int = 0, typeflag: bytes = b"0", linkname: bytes = b"", mode: int = 0o644,
           uid: int = 0, gid: int = 0, mtime: int = MTIME, devmajor: int = 0, devminor: int = 0,
           prefix: bytes = b"") -> bytes:
    """One ustar header block. Over-long names are cut (the mutators add PAX records themselves)."""
    block = bytearray(BLOCK)
    block[0:100] = name[:100].ljust(100, b"\0")
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(uid, 8)
    block[116:124] = _octal(gid, 8)
    block[124:136] = _octal(size, 12) if size < 8 ** 11 else b"\x80" + size.to_bytes(11, "big")
    block[136:148] = _octal(mtime, 12)
    block[156:157] = typeflag[:1] or b"\0"
    block[157:257] = linkname[:100].ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    block[265:269] = b"root"
    block[297:301] = b"root"
    block[329:337] = _octal(devmajor, 8)
    block[337:345] = _octal(devminor, 8)
    block[345:500] = prefix[:155].ljust(155, b"\0")
    fix_checksum(block)
    return bytes(block)


def member(name: bytes, data: bytes = b"", **fields: object) -> bytes:
    """A header plus its content, padded to whole blocks."""
    typeflag = fields.get("typeflag", b"0")
    stored = data if typeflag in _CONTENT_TYPES else b""
    return header(name, size=len(data), **fields) + padded(stored)  # type: ignore[arg-type]


def pax_payload(records: list[tuple[bytes, bytes]]) -> bytes:
    """PAX records `LEN key=value\\n`, each LEN counting itself."""
    out = b""
    for key, value in records:
        body = b" " + key + b"=" + value + b"\n"
        length = len(body) + 1
        while len(str(length).encode()) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def _number(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value if field[:1] == b"\x80" else -1
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        return -1


@dataclass(frozen=True)
class Hdr:
    offset: int        # where the header block starts
    typeflag: bytes
    size: int          # content bytes after the header (0 for header-only types)
    end: int           # offset after the padded content


def walk(data: bytes) -> tuple[list[Hdr], int]:
    """Member headers as a runtime would frame them, and where the end marker (or the data) ends.
    Never raises: a field that cannot be read counts as 0."""
    out: list[Hdr] = []
    offset = 0
    while offset + BLOCK <= len(data):
        block = data[offset:offset + BLOCK]
        if block == b"\0" * BLOCK:
            return out, offset
        typeflag = block[156:157]
        size = max(_number(block[124:136]), 0) if typeflag in _CONTENT_TYPES else 0
        end = offset + BLOCK + size + (-size % BLOCK)
        out.append(Hdr(offset, typeflag, size, min(end, len(data))))
        if end > len(data):
            return out, len(data)
        offset = end
    return out, offset


def sniff(blob: bytes) -> str:
    if blob[:2] == b"\x1f\x8b":
        return "gzip"
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def inflate(blob: bytes) -> bytes | None:
    """Uncompressed bytes as inspectr would hash them (gzip members until non-gzip data; every zstd
    frame), or None when the stream is broken."""
    kind = sniff(blob)
    try:
        if kind == "gzip":
            out = []
            rest = blob
            while rest[:2] == b"\x1f\x8b":
                d = zlib.decompressobj(31)
                out.append(d.decompress(rest))
                if not d.eof:
                    return None
                rest = d.unused_data
            return b"".join(out)
        if kind == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True)
            return reader.read()
    except (zlib.error, zstandard.ZstdError):
        return None
    return blob


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(data)
    return data
