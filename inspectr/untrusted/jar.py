"""Maven coordinates inside a jar: every `META-INF/maven/<group>/<artifact>/pom.properties`
(groupId, artifactId, version), and one level of nested jars as Spring Boot (`BOOT-INF/lib/`)
and war files (`WEB-INF/lib/`) carry them.

A jar is a zip, read with zipfile on BytesIO, but only after the central directory has been
walked here, entry by entry up to `max_members` (zipfile would build a ZipInfo for every
entry first, and it trusts neither the entry count nor stops at it). Every member read is
read through a cap one byte larger than the member may be, so a member whose declared size
lies (a zip bomb) is caught by what it inflates to, not by what it claims. A nested jar is
read the same way, with its own member cap, and all the bytes inflated for one call are capped
by `max_total_bytes`.

`Package.location` is the jar's path for its own coordinates, and `OUTER!/MEMBER` (the JDK's
jar-URL form) for a nested jar's; a nested jar's `parent` is the outer jar's file name (what
carries it; an outer jar may name no Maven package, or several).

Errors: `read_jar` raises `JarError` (a `pkgdb.PackageDbError`, so a ValueError) when the outer jar cannot be read: too
large, not a zip, too many members, a member over its cap, zipfile refusing it. A nested jar
that cannot be read does not hide the rest: it becomes a `Notice` with code `jar-nested-unread`
in `JarContents.notices`, and a pom.properties without groupId, artifactId or version becomes
`jar-bad-pom-properties`.
"""

from __future__ import annotations

import io
import posixpath
import struct
import zipfile
import zlib
from dataclasses import dataclass

from ..notice import Notice
from ..package import Package
from .pkgdb import PackageDbError

__all__ = [
    "JarError", "JarContents", "MAX_JAR_BYTES", "MAX_MEMBERS", "MAX_PROPERTIES_BYTES", "MAX_NESTED_JAR_BYTES",
    "MAX_TOTAL_BYTES", "MAX_NESTED_JARS", "read_jar", "parse_properties", "parse_pom_properties",
]

MAX_JAR_BYTES = 512 << 20
MAX_MEMBERS = 65_535 * 2  # the largest real fat jars hold tens of thousands of classes
MAX_PROPERTIES_BYTES = 64 << 10  # a pom.properties is a few hundred bytes
MAX_NESTED_JAR_BYTES = 128 << 20
MAX_NESTED_JARS = 2_000
MAX_TOTAL_BYTES = 1 << 30  # everything inflated for one outer jar

_NESTED_DIRS = ("BOOT-INF/lib/", "WEB-INF/lib/")
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"


class JarError(PackageDbError):
    """The jar cannot be read within the caps. The message names the jar and the cause."""


@dataclass(frozen=True, slots=True)
class JarContents:
    """The Maven packages a jar and its nested jars name, and a notice for each part not read."""

    packages: tuple[Package, ...]
    notices: tuple[Notice, ...]


@dataclass(slots=True)
class _Budget:
    left: int  # bytes that may still be inflated


def _central_directory_count(data: bytes, max_members: int, what: str) -> int:
    """Walk the central directory the way zipfile will find it (the last end record in the
    final 64 KiB + 22 bytes), counting entries up to max_members. Raises JarError when there
    are more, or when the records do not fit the data."""
    # zipfile's _EndRecData: a record without a comment in the last 22 bytes, else the last
    # signature in the final 64 KiB + 22 bytes
    if len(data) >= 22 and data[-22:-18] == _EOCD and data[-2:] == b"\x00\x00":
        eocd = len(data) - 22
    else:
        eocd = data.rfind(_EOCD, max(0, len(data) - (1 << 16) - 22))
    if eocd < 0 or eocd + 22 > len(data):
        raise JarError(f"{what}: not a zip (no end of central directory record)")
    declared, cd_size, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    if (declared == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF) and eocd >= 20 \
            and data[eocd - 20 : eocd - 16] == _EOCD64_LOCATOR:
        (record,) = struct.unpack_from("<Q", data, eocd - 12)
        if record + 56 > len(data) or data[record : record + 4] != _EOCD64:
            raise JarError(f"{what}: zip64 end record at {record} is outside the file")
        declared, cd_size, cd_offset = struct.unpack_from("<QQQ", data, record + 32)
    if declared > max_members:
        raise JarError(f"{what}: {declared} members exceeds max_members={max_members}")
    # zipfile places the directory relative to the end record (it allows for prepended data),
    # so walk it the same way: it ends where the end record (or the zip64 one) starts.
    end = eocd if data[eocd - 20 : eocd - 16] != _EOCD64_LOCATOR else max(0, eocd - 20 - 56)
    start = end - cd_size
    if start < 0 or cd_size > len(data):
        raise JarError(f"{what}: central directory of {cd_size} bytes does not fit before its end record")
    pos, count = start, 0
    while pos < end:
        if pos + 46 > len(data) or data[pos : pos + 4] != _CENTRAL:
            break  # zipfile stops or fails here too; it says which
        count += 1
        if count > max_members:
            raise JarError(f"{what}: more than max_members={max_members} members")
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return count


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, budget: _Budget, what: str) -> bytes:
    if info.file_size > cap:
        raise JarError(f"{what}: member {info.filename!r} declares {info.file_size} bytes, over its cap of {cap}")
    limit = min(cap, budget.left)
    with zf.open(info) as member:
        body = member.read(limit + 1)  # one byte more: a lying size shows up
    if len(body) > cap:
        raise JarError(f"{what}: member {info.filename!r} inflates past its cap of {cap} bytes")
    if len(body) > budget.left:
        raise JarError(f"{what}: more than max_total_bytes inflated")
    budget.left -= len(body)
    return body


def parse_properties(text: str) -> dict[str, str]:
    """A Java .properties file (java.util.Properties.load): comments (# !), `key=value`,
    `key:value` or `key value`, backslash escapes and line continuations. Never raises."""
    out: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        # a line ending in an odd number of backslashes continues on the next one
        while (len(line) - len(line.rstrip("\\"))) % 2 == 1 and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        key, value = _split_property(line)
        out[key] = value
    return out


def _split_property(line: str) -> tuple[str, str]:
    pos = 0
    while pos < len(line):
        if line[pos] == "\\":
            pos += 2
            continue
        if line[pos] in "=: \t\f":
            break
        pos += 1
    key = line[:pos]
    # one separator: whitespace, then at most one '=' or ':', then whitespace
    rest = line[pos:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return _unescape(key), _unescape(rest)


def _unescape(text: str) -> str:
    out = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch != "\\" or pos + 1 >= len(text):
            out.append(ch)
            pos += 1
            continue
        nxt = text[pos + 1]
        if nxt == "u" and pos + 6 <= len(text) and all(c in "0123456789abcdefABCDEF" for c in text[pos + 2 : pos + 6]):
            out.append(chr(int(text[pos + 2 : pos + 6], 16)))
            pos += 6
            continue
        out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        pos += 2
    return "".join(out)


def _is_pom_properties(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 5 and parts[0] == "META-INF" and parts[1] == "maven" and parts[4] == "pom.properties" \
        and all(parts[2:4])


def _is_nested_jar(name: str) -> bool:
    return any(name.startswith(d) and name.endswith(".jar") and "/" not in name[len(d):] for d in _NESTED_DIRS)


def _read_one(data: bytes, what: str, location: str, layer: int | None, budget: _Budget, max_members: int,
              max_properties_bytes: int, max_nested_jar_bytes: int) -> tuple[list[Package], list[Notice],
                                                                          list[tuple[str, bytes]]]:
    """Packages, notices and (member name, bytes) of the nested jars of one jar."""
    packages: list[Package] = []
    notices: list[Notice] = []
    nested: list[tuple[str, bytes]] = []
    _central_directory_count(data, max_members, what)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise JarError(f"{what}: {len(infos)} members exceeds max_members={max_members}")
            for info in sorted(infos, key=lambda i: i.filename):
                name = info.filename
                if _is_pom_properties(name):
                    body = _read_member(zf, info, max_properties_bytes, budget, what)
                    # Properties.store writes ISO 8859-1 with \\u escapes; latin-1 never fails
                    props = parse_properties(body.decode("latin-1"))
                    group, artifact, version = props.get("groupId"), props.get("artifactId"), props.get("version")
                    if not group or not artifact or not version:
                        notices.append(Notice("jar-bad-pom-properties", location, layer,
                                              f"{what}: {name}: no groupId, artifactId or version"))
                        continue
                    packages.append(Package("maven", f"{group}:{artifact}", version, location=location))
                elif max_nested_jar_bytes > 0 and _is_nested_jar(name) and not info.is_dir():
                    if len(nested) >= MAX_NESTED_JARS:
                        notices.append(Notice("jar-nested-unread", location, layer,
                                              f"{what}: more than {MAX_NESTED_JARS} nested jars; {name} and later ones not read"))
                        continue
                    try:
                        nested.append((name, _read_member(zf, info, max_nested_jar_bytes, budget, what)))
                    except JarError as err:
                        notices.append(Notice("jar-nested-unread", location, layer, str(err)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError, struct.error, KeyError, IndexError, OverflowError, MemoryError) as err:
        if isinstance(err, JarError):
            raise
        raise JarError(f"{what}: zip cannot be read: {type(err).__name__}: {err}") from err
    return packages, notices, nested


def read_jar(data: bytes, location: str = "", layer: int | None = None, *, nested: bool = True,
             max_jar_bytes: int = MAX_JAR_BYTES, max_members: int = MAX_MEMBERS,
             max_properties_bytes: int = MAX_PROPERTIES_BYTES, max_nested_jar_bytes: int = MAX_NESTED_JAR_BYTES,
             max_total_bytes: int = MAX_TOTAL_BYTES) -> JarContents:
    """The Maven packages named by the jar in `data` (found at `location`) and, when `nested`,
    by the jars in its BOOT-INF/lib/ and WEB-INF/lib/ (one level: jars inside those are not
    opened). Packages come sorted by member name, the outer jar's first. Raises `JarError`
    when the outer jar cannot be read; see the module docstring for the notices."""
    what = f"jar {location!r}" if location else "jar"
    if len(data) > max_jar_bytes:
        raise JarError(f"{what}: {len(data)} bytes exceeds max_jar_bytes={max_jar_bytes}")
    budget = _Budget(max_total_bytes)
    packages, notices, inner = _read_one(data, what, location, layer, budget, max_members, max_properties_bytes,
                                         max_nested_jar_bytes if nested else 0)
    parent = posixpath.basename(location)
    out = list(packages)
    for name, body in inner:
        inner_location = f"{location}!/{name}"
        inner_what = f"nested jar {inner_location!r}"
        try:
            found, found_notices, _ = _read_one(body, inner_what, inner_location, layer, budget, max_members,
                                                max_properties_bytes, 0)
        except JarError as err:
            notices.append(Notice("jar-nested-unread", location, layer, str(err)))
            continue
        out.extend(Package("maven", p.name, p.version, location=p.location, parent=parent) for p in found)
        notices.extend(found_notices)
    return JarContents(tuple(out), tuple(notices))


def parse_pom_properties(data: bytes, location: str) -> list[Package]:
    """The one package a pom.properties file names, read on its own (its bytes already taken
    out of the jar). `location` is `JAR!/META-INF/maven/G/A/pom.properties`, or
    `OUTER!/BOOT-INF/lib/INNER.jar!/META-INF/...` for a nested jar; the package's location is
    the jar part, and a nested jar's parent is the outer jar's file name. Raises `JarError`
    when the file is over MAX_PROPERTIES_BYTES or lacks groupId, artifactId or version."""
    if len(data) > MAX_PROPERTIES_BYTES:
        raise JarError(f"{location}: {len(data)} bytes exceeds {MAX_PROPERTIES_BYTES}")
    props = parse_properties(data.decode("latin-1"))
    group, artifact, version = props.get("groupId"), props.get("artifactId"), props.get("version")
    if not group or not artifact or not version:
        raise JarError(f"{location}: no groupId, artifactId or version")
    jar = location.rpartition("!/")[0] or location
    outer, sep, _ = jar.partition("!/")
    return [Package("maven", f"{group}:{artifact}", version, location=jar, parent=posixpath.basename(outer) if sep else "")]
