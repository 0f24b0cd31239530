"""Looks inside file contents from images to explain a difference: ELF build-ids, nested
archives (zip/jar, gzip, tar), .pyc headers and /etc/shadow. Every parser here is bounded and
returns None rather than raising on malformed input: a failure only means "real content"."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zipfile
import zlib

__all__ = ["strip_build_id", "archive_fingerprint", "shadow_without_lastchange", "pyc_body"]


def strip_build_id(data: bytes) -> bytes | None:
    """The ELF file with its GNU build-id note zeroed, or None when it is not an ELF with one."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    cls, endian = data[4], data[5]
    if cls not in (1, 2) or endian not in (1, 2):
        return None
    e = "<" if endian == 1 else ">"
    try:
        if cls == 2:
            e_shoff = struct.unpack_from(e + "Q", data, 0x28)[0]
            e_shentsize, e_shnum = struct.unpack_from(e + "HH", data, 0x3A)
            sh_fmt, off_i, size_i, type_i = e + "IIQQQQIIQQ", 4, 5, 1
        else:
            e_shoff = struct.unpack_from(e + "I", data, 0x20)[0]
            e_shentsize, e_shnum = struct.unpack_from(e + "HH", data, 0x2E)
            sh_fmt, off_i, size_i, type_i = e + "IIIIIIIIII", 4, 5, 1
        if e_shnum > 4096 or e_shoff + e_shnum * e_shentsize > len(data):
            return None
        out = bytearray(data)
        found = False
        headers = [struct.unpack_from(sh_fmt, data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        for i, sh in enumerate(headers):
            if sh[type_i] != 7:  # SHT_NOTE
                continue
            off, size = sh[off_i], sh[size_i]
            # A real build-id note section is tiny and shares no bytes with any other section;
            # otherwise zeroing it could hide a change in code.
            if size > 256 or any(o[type_i] not in (0, 8) and o[size_i] and o[off_i] < off + size and off < o[off_i] + o[size_i]
                                 for j, o in enumerate(headers) if j != i):
                continue
            pos, end = off, min(off + size, len(data))
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from(e + "III", data, pos)
                name_end = pos + 12 + ((namesz + 3) & ~3)
                desc_end = name_end + ((descsz + 3) & ~3)
                if desc_end > end:
                    break
                if ntype == 3 and data[pos + 12 : pos + 12 + namesz].rstrip(b"\x00") == b"GNU":  # NT_GNU_BUILD_ID
                    if found or not 8 <= descsz <= 64:
                        return None
                    out[name_end : name_end + descsz] = bytes(descsz)
                    found = True
                pos = desc_end
        return bytes(out) if found else None
    except struct.error:
        return None


def archive_fingerprint(data: bytes, max_members: int = 100_000, max_bytes: int = 256 << 20, depth: int = 0) -> str | None:
    """A digest of an archive's members (names, modes, sizes, full contents) without their
    timestamps, or None when the data is no zip/jar, single-member gzip or tar that can be read
    within the bounds. Contents are hashed, never trusted by CRC (CRC-32 can be forged)."""
    if depth > 2:
        return None
    try:
        if data[:4] == b"PK\x03\x04":
            h = hashlib.sha256(b"zip")
            total = 0
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                if len(infos) > max_members:
                    return None
                for info in sorted(infos, key=lambda i: i.filename):
                    total += info.file_size
                    if total > max_bytes:
                        return None
                    h.update(f"{info.filename}\0{info.file_size}\0{info.external_attr}\0{info.compress_type}\n".encode())
                    member_hash = hashlib.sha256()
                    with zf.open(info) as member:
                        left = info.file_size + 1  # one byte more: a lying size shows up
                        while left > 0 and (chunk := member.read(min(left, 1 << 20))):
                            member_hash.update(chunk)
                            left -= len(chunk)
                    h.update(member_hash.digest())
            return h.hexdigest()
        if data[:2] == b"\x1f\x8b":
            d = zlib.decompressobj(wbits=31)
            body = d.decompress(data, max_bytes)
            # One member, fully read: trailing members or bytes would be hidden from the check.
            if d.unconsumed_tail or d.unused_data or not d.eof:
                return None
            inner = archive_fingerprint(body, max_members, max_bytes, depth + 1)
            return inner or hashlib.sha256(b"gzip" + body).hexdigest()
        if len(data) >= 512 and data[257:262] == b"ustar":
            return _tar_fingerprint(data, max_members)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, gzip.BadGzipFile, NotImplementedError, RuntimeError):
        return None
    return None


def _tar_fingerprint(data: bytes, max_members: int) -> str | None:
    # Every header byte but the mtime and the checksum (which covers the mtime), and every
    # content and padding byte: only timestamps may differ.
    h = hashlib.sha256(b"tar")
    pos = 0
    count = 0
    while pos + 512 <= len(data):
        block = data[pos : pos + 512]
        if block == bytes(512):
            h.update(data[pos:])  # the end marker and anything after it
            return h.hexdigest()
        count += 1
        if count > max_members:
            return None
        field = block[124:136].strip(b" \x00")
        if not field.isdigit():
            return None
        size = int(field, 8)
        h.update(block[:136] + block[156:])
        end = pos + 512 + size + (-size % 512)
        if end > len(data):
            return None
        h.update(data[pos + 512 : end])
        pos = end
    return None


def shadow_without_lastchange(data: bytes) -> bytes | None:
    """/etc/shadow with the third field (days since last change) blanked on every line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = []
    for line in text.split("\n"):
        parts = line.split(":")
        if len(parts) >= 3:
            parts[2] = ""
        lines.append(":".join(parts))
    return "\n".join(lines).encode()


def pyc_body(data: bytes) -> bytes | None:
    """A .pyc without its 16-byte header (magic, flags, source mtime/hash, size)."""
    if len(data) < 16 or data[2:4] != b"\r\n":
        return None
    return data[16:]
