"""Tar mutations, for layer tars and for the outer tar of an archive: header fields (size, mode,
ids, type flag, names with `..`, absolute or very long names, link targets, checksums), inserted
PAX, GNU long-name and global headers, crafted members (hardlinks, symlink loops, whiteouts,
root entries, devices, sparse files) and framing (truncation, end marker, zero blocks, order)."""

from __future__ import annotations

from .draw import Draw
from .tarfmt import BLOCK, FIELDS, Hdr, fix_checksum, header, member, pax_payload, walk

__all__ = ["mutate_tar", "FAMILIES"]

NAMES: tuple[bytes, ...] = (
    b"../../../etc/passwd", b"/etc/shadow", b"a/../../../x", b"", b"\x00hidden", b".", b"./", b"..", b"/", b"//",
    b"n" * 100, b".wh.", b".wh..", b".wh...", b".wh..wh..opq", b"etc/.wh.passwd", b".wh..wh.plnk", b"a\\..\\..\\evil",
    b"\xff\xfe\xfd", b"\x1b]0;title\x07\x1b[2J", b"[bold]x[/bold]", b"dir/", b"./././x", b"bin", b"bin/sh",
    b"etc/passwd/child", b"\xe2\x80\xaeevil", b"a//b///c", b"-rf",
)
NUMBERS: tuple[bytes, ...] = (
    b"0000000\x00", b"7777777\x00", b"\x00" * 8, b" " * 7 + b"\x00", b"12x4567\x00", b"9999999\x00", b"-000001\x00",
    b"0o777\x00\x00\x00", b"+000001\x00", b"\x80\x00\x00\x00\x00\x00\x00\x01", b"\xff" * 8, b"\x80" + b"\xff" * 7,
    b"\x80" + b"\x00" * 3 + b"\x01\x00\x00\x00", b"0000001 ", b" 000001\x00", b"1\x00garbage",
)
SIZES: tuple[bytes, ...] = (
    b"00000000000\x00", b"00000000001\x00", b"77777777777\x00", b"\x80" + (2 ** 33).to_bytes(11, "big"),
    b"\x80" + (2 ** 40).to_bytes(11, "big"), b"\x80" + (2 ** 87).to_bytes(11, "big"), b"\xff" * 12, b"1234567890x\x00",
    b"\x00" * 12, b" " * 11 + b"\x00",
)
TYPEFLAGS: tuple[bytes, ...] = (b"0", b"\x00", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"x", b"g", b"L", b"K",
                                b"S", b"V", b"M", b"D", b"N", b"A", b"?", b"\xff")
PAX_RECORDS: tuple[tuple[bytes, bytes], ...] = (
    (b"path", b"../../etc/cron.d/x"), (b"path", b"/abs/name"), (b"path", b"p" * 5000), (b"path", b""),
    (b"path", b"a\x00b"), (b"path", ("d/" * 300 + "f").encode()), (b"path", b"\xff\xfe"), (b"path", b"."),
    (b"linkpath", b"../../../../etc/shadow"), (b"linkpath", b""), (b"linkpath", b"l" * 5000), (b"linkpath", b"x\x00y"),
    (b"size", b"99999999999999999999"), (b"size", b"-1"), (b"size", b"1e3"), (b"size", b"0"), (b"size", b" 12"),
    (b"size", b"34359738368"), (b"uid", b"4294967295"), (b"uid", b"4294967296"), (b"uid", b"-5"), (b"gid", b"abc"),
    (b"gid", b"0x10"), (b"mtime", b"1.5"), (b"mtime", b"-1.123456789"), (b"mtime", b"1e20"),
    (b"mtime", b"99999999999999999999999"), (b"mtime", b"."), (b"mtime", b"1.2.3"), (b"mtime", b"-"),
    (b"atime", b"nonsense"), (b"SCHILY.xattr.security.capability", b"\x01\x00\x00\x02\xff\xff\xff\xff"),
    (b"SCHILY.xattr.security.capability", b"\x00"), (b"SCHILY.xattr.trusted.overlay.opaque", b"y"),
    (b"SCHILY.xattr.", b"x"), (b"SCHILY.xattr.user.big", b"v" * 70000), (b"GNU.sparse.major", b"1"),
    (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.realsize", b"1000000000000"), (b"GNU.sparse.map", b"0,1,2"),
    (b"GNU.sparse.major", b"0"), (b"GNU.sparse.offset", b"0"), (b"comment", b"c" * 3000),
    (b"hdrcharset", b"BINARY"), (b"LIBARCHIVE.xattr.user.x", b"eA=="), (b"", b"empty key"),
)
RAW_PAX: tuple[bytes, ...] = (b"999 path=x\n", b"5 a\n", b"11 noequal\n", b"0 \n", b"abc path=x\n",
                              b"12 path=x\n\n", b"", b"4 =\n", b"-5 path=x\n", b"9 path=x", b"\n" * 10,
                              b"18446744073709551617 path=x\n")
FAMILIES = ("tar-header", "tar-insert", "tar-structure")


def _members(data: bytes) -> tuple[list[Hdr], int]:
    hdrs, end = walk(data)
    return hdrs, end


def _name(data: bytes, hdr: Hdr) -> bytes:
    block = data[hdr.offset:hdr.offset + BLOCK]
    name = block[:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if block[257:263] == b"ustar\x00" else b""
    return prefix + b"/" + name if prefix else name


def _set_field(data: bytes, hdr: Hdr, field: str, value: bytes, checksum: bool) -> bytes:
    off, length = FIELDS[field]
    block = bytearray(data[hdr.offset:hdr.offset + BLOCK])
    block[off:off + length] = value[:length].ljust(length, b"\0")
    if checksum and field != "chksum":
        fix_checksum(block)
    return data[:hdr.offset] + bytes(block) + data[hdr.offset + BLOCK:]


def _header_field(draw: Draw, data: bytes, hdrs: list[Hdr], names: list[bytes]) -> tuple[bytes, str]:
    hdr = draw.choice(hdrs)
    field = draw.choice(("name", "name", "linkname", "typeflag", "typeflag", "size", "size", "mode", "uid", "gid",
                         "mtime", "chksum", "magic", "prefix", "devmajor", "devminor", "version", "uname"))
    if field in ("name", "linkname", "prefix"):
        value = draw.choice(NAMES + tuple(names[:20]))
    elif field == "typeflag":
        value = draw.choice(TYPEFLAGS)
    elif field == "size":
        how = draw.integer(0, 3)
        if how == 0:
            value = draw.choice(SIZES)
        else:
            delta = draw.choice((-1, 1, BLOCK, -BLOCK, 1 << 20))
            value = b"%011o\x00" % max(hdr.size + delta, 0)
    elif field == "mtime":
        value = draw.choice(NUMBERS + (b"77777777777\x00", b"\x80" + b"\x7f" * 11))
    elif field == "chksum":
        value = draw.choice((b"0000000\x00", b"\x00" * 8, b"abcdefg\x00", b"7777777\x00"))
    elif field == "magic":
        value = draw.choice((b"ustar ", b"\x00" * 6, b"garbag", b"ustar\x00"))
    elif field in ("uname", "version"):
        value = draw.choice((b"\xff" * 32, b"00", b" \x00", b"nobody"))
    else:
        value = draw.choice(NUMBERS)
    checksum = draw.chance(92)
    return _set_field(data, hdr, field, value, checksum), \
        f"header of {_name(data, hdr)[:40]!r}: {field} = {value[:40]!r}{'' if checksum else ' (stale checksum)'}"


def _insert_at(draw: Draw, hdrs: list[Hdr], end: int) -> int:
    return draw.choice([h.offset for h in hdrs] + [end])


def _sparse(draw: Draw, data: bytes, hdrs: list[Hdr], ci: bool) -> tuple[bytes, str] | None:
    regular = [h for h in hdrs if h.typeflag in (b"0", b"\x00")]
    if not regular:
        return None
    hdr = draw.choice(regular)
    content = data[hdr.offset + BLOCK:hdr.offset + BLOCK + hdr.size]
    # 2**35 is max_member_bytes (32 GiB) itself: allowed, and hashing its holes takes inspectr
    # about 20 s per command (DoS within the limits: docs/hostile-inputs.md). Not drawn in CI.
    sizes = (len(content), len(content) + 1, 10 ** 12, 2 ** 63, 0, 2 ** 35 + 1, 2 ** 24)
    realsize = draw.choice(sizes if ci else sizes + (2 ** 35,))
    segments = draw.choice((b"1\n0\n%d\n" % len(content), b"1\n%d\n%d\n" % (realsize, len(content)), b"2\n0\n1\n",
                            b"99999999\n", b"1\nx\n1\n", b"0\n"))
    body = segments + b"\0" * (-len(segments) % BLOCK) + content
    name = _name(data, hdr)
    pax = pax_payload([(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.name", name),
                       (b"GNU.sparse.realsize", str(realsize).encode())])
    new = member(b"PaxHeaders/x", pax, typeflag=b"x") + member(b"GNUSparseFile.0/" + name[-60:], body)
    return data[:hdr.offset] + new + data[hdr.end:], f"{name[:40]!r} made a PAX 1.0 sparse file of {realsize} bytes"


def _insert(draw: Draw, data: bytes, hdrs: list[Hdr], end: int, names: list[bytes], ci: bool) -> tuple[bytes, str]:
    at = _insert_at(draw, hdrs, end)
    some = draw.choice(names) if names else b"f"
    kind = draw.choice(("pax", "pax", "raw-pax", "gnu-long", "global", "hardlink", "symlink-loop", "symlink-escape",
                        "whiteout", "opaque", "overlay-whiteout", "root", "under-file", "replace-type", "deep",
                        "device", "sparse", "many", "duplicate-extended", "big-claim"))
    if kind == "pax":
        records = [draw.choice(PAX_RECORDS) for _ in range(draw.integer(1, 3))]
        new = member(b"PaxHeaders/x", pax_payload(records), typeflag=b"x")
        note = f"PAX {[(k, v[:30]) for k, v in records]}"
        if at == end:
            new += member(b"after-pax", b"x")
    elif kind == "raw-pax":
        raw = draw.choice(RAW_PAX)
        new = member(b"PaxHeaders/x", raw, typeflag=b"x") + (member(b"after", b"x") if at == end else b"")
        note = f"malformed PAX {raw[:30]!r}"
    elif kind == "gnu-long":
        flag = draw.choice((b"L", b"K"))
        payload = draw.choice(NAMES[:12] + (b"g" * 5000, b"a\x00b", b""))
        new = member(b"././@LongLink", payload + b"\0", typeflag=flag)
        if draw.chance(20):
            new += new
        if at == end:
            new += member(b"after-long", b"x", typeflag=b"2" if flag == b"K" else b"0")
        note = f"GNU long {'name' if flag == b'L' else 'link'} {payload[:30]!r}"
    elif kind == "global":
        records = [draw.choice(PAX_RECORDS) for _ in range(draw.integer(1, 2))]
        new = member(b"pax_global_header", pax_payload(records), typeflag=b"g")
        note = f"PAX global {[(k, v[:30]) for k, v in records]}"
    elif kind == "hardlink":
        target = draw.choice((b"missing", some, b"", b".", b"../x", b"hl", b"/" + some, some + b"/"))
        new = member(b"hl", typeflag=b"1", linkname=target)
        note = f"hardlink 'hl' -> {target[:40]!r}"
    elif kind == "symlink-loop":
        new = (member(b"loop1", typeflag=b"2", linkname=b"loop2") + member(b"loop2", typeflag=b"2", linkname=b"loop1")
               + member(b"loop1/x", b"x"))
        note = "symlink loop with an entry below it"
    elif kind == "symlink-escape":
        target = draw.choice((b"../../../..", b"/", b"/etc", b"..", b"."))
        new = member(b"esc", typeflag=b"2", linkname=target) + member(b"esc/etc/written", b"x")
        note = f"entry below symlink -> {target!r}"
    elif kind == "whiteout":
        base = some.rsplit(b"/", 1)
        name = (base[0] + b"/.wh." + base[1]) if len(base) == 2 else b".wh." + some
        name = draw.choice((name, b".wh.", b"d/.wh..", b".wh...", b".wh.missing"))
        new = member(name, b"")
        note = f"whiteout {name[:40]!r}"
    elif kind == "opaque":
        parent = some.rsplit(b"/", 1)[0] if b"/" in some else b""
        new = member((parent + b"/" if parent else b"") + b".wh..wh..opq", b"")
        note = f"opaque marker in {parent[:40]!r}"
    elif kind == "overlay-whiteout":
        new = member(some, typeflag=b"3", devmajor=0, devminor=0)
        note = f"0:0 char device over {some[:40]!r}"
    elif kind == "root":
        flag = draw.choice((b"2", b"0", b"5", b"1", b"3"))
        name = draw.choice((b".", b"./", b"/"))
        new = member(name, b"", typeflag=flag, linkname=b"/tmp/host" if flag in (b"1", b"2") else b"")
        note = f"root entry {name!r} of type {flag!r}"
    elif kind == "under-file":
        new = member(some + b"/child", b"x")
        note = f"entry below {some[:40]!r}"
    elif kind == "replace-type":
        flag = draw.choice((b"5", b"2", b"0", b"6"))
        new = member(some, b"", typeflag=flag, linkname=b"target" if flag == b"2" else b"")
        note = f"{some[:40]!r} again as type {flag!r}"
    elif kind == "deep":
        name = b"d/" * draw.choice((100, 257, 2100)) + b"f"
        new = member(b"PaxHeaders/x", pax_payload([(b"path", name)]), typeflag=b"x") + member(b"deep", b"x")
        note = f"path {len(name)} bytes, {name.count(b'/')} levels"
    elif kind == "device":
        flag = draw.choice((b"3", b"4", b"6", b"7"))
        new = member(b"dev", b"", typeflag=flag, devmajor=draw.choice((0, 8, 4095, 2 ** 20)), devminor=1)
        note = f"special file of type {flag!r}"
    elif kind == "sparse":
        done = _sparse(draw, data, hdrs, ci)
        if done is not None:
            return done
        new, note = member(b"plain", b"x"), "plain member"
    elif kind == "many":
        count = draw.choice((500, 3000))
        new = b"".join(member(b"many/%d" % i, b"") for i in range(count))
        note = f"{count} entries"
    elif kind == "duplicate-extended":
        new = member(b"PaxHeaders/x", pax_payload([(b"path", b"a")]), typeflag=b"x") * 2 + member(b"b", b"x")
        note = "two PAX headers for one member"
    else:
        new = header(b"claims-big", size=draw.choice((10 ** 6, 2 ** 33, 8 ** 11 - 1)))
        note = "member claiming more content than the stream holds"
    return data[:at] + new + data[at:], f"inserted {note} at offset {at}"


def _structure(draw: Draw, data: bytes, hdrs: list[Hdr], end: int) -> tuple[bytes, str]:
    kind = draw.choice(("truncate", "truncate-block", "no-end", "trailing", "zero-block", "drop", "duplicate",
                        "swap", "flip", "empty", "end-only"))
    if kind == "truncate":
        cut = draw.integer(0, max(len(data) - 1, 0))
        return data[:cut], f"truncated at byte {cut}"
    if kind == "truncate-block":
        cut = draw.choice([h.offset + BLOCK for h in hdrs] + [end + BLOCK])
        return data[:cut], f"truncated after the header at {cut - BLOCK}"
    if kind == "no-end":
        return data[:end], "end-of-archive marker removed"
    if kind == "trailing":
        extra = draw.choice((b"hidden payload", b"\0" * 10240, header(b"after-eof", size=1) + b"x" * BLOCK, b"\x01"))
        return data + extra, f"{len(extra)} bytes after the end"
    if kind == "zero-block":
        at = draw.choice([h.offset for h in hdrs[1:]] or [end])
        return data[:at] + b"\0" * BLOCK + data[at:], f"single zero block at {at}"
    if kind == "drop" and hdrs:
        h = draw.choice(hdrs)
        return data[:h.offset] + data[h.end:], f"member at {h.offset} removed"
    if kind == "duplicate" and hdrs:
        h = draw.choice(hdrs)
        return data[:h.end] + data[h.offset:h.end] + data[h.end:], f"member at {h.offset} repeated"
    if kind == "swap" and len(hdrs) >= 2:
        i = draw.integer(0, len(hdrs) - 2)
        a, b = hdrs[i], hdrs[i + 1]
        return data[:a.offset] + data[b.offset:b.end] + data[a.offset:a.end] + data[b.end:], f"members {i} and {i + 1} swapped"
    if kind == "flip" and data:
        at = draw.integer(0, len(data) - 1)
        return data[:at] + bytes([data[at] ^ (1 << draw.integer(0, 7))]) + data[at + 1:], f"bit flipped at {at}"
    if kind == "empty":
        return b"", "emptied"
    return b"\0" * 1024, "only an end marker"


def mutate_tar(draw: Draw, data: bytes, family: str, ci: bool = False) -> tuple[bytes, str]:
    """One mutation of one tar stream; the note says what was done. `ci` leaves out the inputs
    that are slow by design (within the documented limits)."""
    hdrs, end = _members(data)
    names = [_name(data, h) for h in hdrs if h.typeflag not in (b"x", b"g", b"L", b"K")]
    if family == "tar-header" and hdrs:
        return _header_field(draw, data, hdrs, names)
    if family == "tar-insert":
        return _insert(draw, data, hdrs, end, names, ci)
    return _structure(draw, data, hdrs, end)
