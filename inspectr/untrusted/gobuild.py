"""A Go binary's embedded build info (what `go version -m` prints), found by a streaming scan of
a file of unknown type, in bounded memory.

Go >= 1.18 writes a 32-byte header into the `.go.buildinfo` section (cmd/link, read by Go's
debug/buildinfo): the 14-byte magic `\\xff Go buildinf:`, a pointer-size byte, a flags byte
(bit 1: the strings follow inline), padding to 32 bytes, then two strings, each a uvarint
length and its bytes: the Go version and the module info. The module info, when present, is
wrapped in two 16-byte sentinels (cmd/go's infoStart/infoEnd) and is lines of tab-separated
fields: `path`, `mod` (main module: path, version, sum), `dep` (path, version, sum), `=>` (the
replacement of the module on the line before) and `build` (key=value settings).

The header is 16-byte aligned in its section, and the linkers keep that alignment in the file
(ELF p_offset is congruent to p_vaddr modulo the page size; PE and Mach-O sections are aligned
at least that much), so only magics at file offsets divisible by 16 are candidates, as in Go's
own reader. Go's reader looks only inside the data section; this scanner sees the whole file, so
a candidate that is not a well-formed header (the magic as a string literal in a binary that
links debug/buildinfo, for example) does not end the scan: the first well-formed header wins.

Only files that start with an executable's magic are scanned (ELF, PE's `MZ`, thin Mach-O in
either byte order). Universal Mach-O (`\\xca\\xfe\\xba\\xbe`, which is also a Java class file),
XCOFF and wasm are not.

Memory: the scanner keeps at most `max_modinfo_bytes` plus a little of the file, and the chunk
it was given, whatever the file's size.

Errors. The scanner never raises on the input's bytes; the result says what was found:
`GoBuildInfoScanner.result()` (and `read_go_buildinfo`) return a `GoBuildInfo`, None (not an
executable, or no build info: not a Go binary), or a `Notice`:
- `go-buildinfo-unsupported`: a header in the pointer format of Go < 1.18, whose strings are
  reached through virtual addresses; that needs the section table, so it is reported, not guessed.
- `go-buildinfo-malformed`: a header whose strings run past the end of the file, whose lengths
  overflow a uvarint or exceed the caps, or whose text is not UTF-8 or not module info.
A notice is returned only when no well-formed header follows it in the file.
`parse_go_buildinfo`, for callers that want packages or an exception, raises `GoBuildInfoError`
(a `pkgdb.PackageDbError`) where the scanner returns a notice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..notice import Notice
from ..package import Package
from .pkgdb import PackageDbError

__all__ = [
    "GoModule", "GoBuildInfo", "GoBuildInfoError", "GoBuildInfoScanner", "MAX_MODINFO_BYTES", "MAX_VERSION_BYTES", "is_executable",
    "parse_modinfo", "read_go_buildinfo", "parse_go_buildinfo", "go_packages",
]

MAX_VERSION_BYTES = 1024  # "go1.22.1", or "devel go1.23-abcdef Tue ..."
MAX_MODINFO_BYTES = 4 << 20  # a Kubernetes binary's module info is ~30 KiB

_MAGIC = b"\xff Go buildinf:"
_ALIGN = 16
_HEADER_BYTES = 32
_FLAG_INLINE = 2  # flagVersionInl; bit 0 is the byte order of the Go < 1.18 pointers
_SENTINEL_BYTES = 16
_EXEC_MAGICS = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


@dataclass(frozen=True, slots=True)
class GoModule:
    """A module line of the module info; `replace` is the `=>` line that followed it, if any."""

    path: str
    version: str
    sum: str = ""
    replace: GoModule | None = None


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    """A Go binary's build info. `path` is the main package's import path; `main` is None when
    the binary was built outside a module (GOPATH mode, `go build file.go`)."""

    go_version: str
    path: str
    main: GoModule | None
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]  # `build` lines in order, e.g. ("GOARCH", "amd64")
    offset: int  # the header's file offset
    raw: bytes  # the header and both strings as found: `parse_go_buildinfo` reads them again


    def setting(self, key: str) -> str:
        """The last value of a `build` setting, or ""."""
        return next((value for k, value in reversed(self.settings) if k == key), "")


class GoBuildInfoError(PackageDbError):
    """Raised by `parse_go_buildinfo` only: the notice the scanner would return, as an error."""


class _Malformed(ValueError):
    pass


def is_executable(head: bytes | bytearray | memoryview) -> bool:
    """True when the first bytes of a file are an ELF, PE or thin Mach-O magic."""
    return any(bytes(head[: len(m)]) == m for m in _EXEC_MAGICS)


def _unquote(text: str) -> str:
    # Go quotes a build key or value with strconv.Quote when it holds spaces, tabs, quotes or
    # control characters. JSON's escapes are the common subset; anything else stays as written.
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


def _module(fields: list[str], line: int) -> GoModule:
    if len(fields) < 2 or not fields[0]:
        raise _Malformed(f"module info line {line}: expected a module path and version")
    return GoModule(fields[0], fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "")


def parse_modinfo(text: str) -> tuple[str, GoModule | None, tuple[GoModule, ...], tuple[tuple[str, str], ...]]:
    """The module info's lines as (path, main module, deps, build settings), following Go's
    runtime/debug.ParseBuildInfo: unknown line kinds are ignored, a `=>` line replaces the
    module on the line before it. Raises ValueError on a line Go would reject."""
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    last: str | None = None  # "mod" or "dep": what a `=>` line may replace
    for number, raw in enumerate(text.split("\n"), 1):
        kind, _, rest = raw.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            path = rest
            last = None
        elif kind == "mod":
            main = _module(fields, number)
            last = "mod"
        elif kind == "dep":
            deps.append(_module(fields, number))
            last = "dep"
        elif kind == "=>":
            if len(fields) < 2 or not fields[0]:
                raise _Malformed(f"module info line {number}: expected a replacement path and version")
            replacement = GoModule(fields[0], fields[1], fields[2] if len(fields) > 2 else "")
            if last == "mod" and main is not None:
                main = GoModule(main.path, main.version, main.sum, replacement)
            elif last == "dep":
                deps[-1] = GoModule(deps[-1].path, deps[-1].version, deps[-1].sum, replacement)
            else:
                raise _Malformed(f"module info line {number}: replacement without a module before it")
            last = None
        elif kind == "build":
            key, sep, value = rest.partition("=") if not rest.startswith('"') else _split_quoted_key(rest)
            if not sep or not key:
                raise _Malformed(f"module info line {number}: build setting without key=value: {rest[:80]!r}")
            settings.append((_unquote(key), _unquote(value)))
            last = None
        else:
            last = None  # blank lines, and kinds a later Go may add
    return path, main, tuple(deps), tuple(settings)


def _split_quoted_key(rest: str) -> tuple[str, str, str]:
    end = 1
    while end < len(rest):
        if rest[end] == "\\":
            end += 2
            continue
        if rest[end] == '"':
            break
        end += 1
    key, tail = rest[: end + 1], rest[end + 1 :]
    return (key, "=", tail[1:]) if tail.startswith("=") else (rest, "", "")


def _uvarint(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when the buffer ends inside it. Raises _Malformed on
    overflow, as Go's binary.Uvarint (at most 10 bytes, the 10th at most 1)."""
    value = 0
    for i in range(10):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        if i == 9 and byte > 1:
            raise _Malformed("uvarint overflows 64 bits")
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, pos + i + 1
    raise _Malformed("uvarint longer than 10 bytes")


class GoBuildInfoScanner:
    """Feed a file's bytes in order with `feed`; then `result()`. `feed` returns True once more
    bytes cannot change the result (not an executable, or build info found), so the caller can
    stop reading. Memory stays bounded by the caps plus one chunk, whatever the file's size."""

    def __init__(self, path: str = "", layer: int | None = None, *, max_version_bytes: int = MAX_VERSION_BYTES,
                 max_modinfo_bytes: int = MAX_MODINFO_BYTES, require_executable: bool = True) -> None:
        self._path = path
        self._layer = layer
        self._max_version_bytes = max_version_bytes
        self._max_modinfo_bytes = max_modinfo_bytes
        self._buf = bytearray()
        self._base = 0  # file offset of _buf[0]
        self._pos = 0  # where the next search in _buf starts
        self._candidate: int | None = None  # index in _buf of a header still waiting for bytes
        self._checked_magic = not require_executable
        self._executable = not require_executable
        self._found: GoBuildInfo | None = None
        self._notice: Notice | None = None
        self._finished = False

    @property
    def done(self) -> bool:
        return self._found is not None or (self._checked_magic and not self._executable)

    def feed(self, chunk: bytes | bytearray | memoryview) -> bool:
        """Scan the next bytes of the file. Returns `done`."""
        if self.done or self._finished:
            return True
        self._buf += chunk
        if not self._checked_magic:
            if len(self._buf) < 4 and not any(m.startswith(bytes(self._buf)) for m in _EXEC_MAGICS):
                self._checked_magic, self._executable = True, False
            elif len(self._buf) >= 4:
                self._checked_magic, self._executable = True, is_executable(self._buf)
            if not self._checked_magic:
                return False
            if not self._executable:
                self._buf = bytearray()
                return True
        self._scan(final=False)
        if self._found is not None:
            self._buf = bytearray()
        return self.done

    def result(self) -> GoBuildInfo | Notice | None:
        """Ends the scan (no more bytes) and returns what it found (see the module docstring)."""
        if not self._finished:
            self._finished = True
            if not self._checked_magic:
                self._checked_magic, self._executable = True, is_executable(self._buf)
            if self._executable and self._found is None:
                self._scan(final=True)
            self._buf = bytearray()
        if self._found is not None:
            return self._found
        return self._notice if self._executable else None

    def _bad(self, code: str, message: str, index: int) -> None:
        if self._notice is None:
            self._notice = Notice(code, self._path, self._layer,
                                  f"go build info at offset {self._base + index}: {message}")

    def _scan(self, final: bool) -> None:
        buf = self._buf
        while self._found is None:
            if self._candidate is not None:
                i = self._candidate
                try:
                    status = self._parse(i, final)
                except _Malformed as err:
                    self._bad("go-buildinfo-malformed", str(err), i)
                    status = "reject"
                if status == "more":
                    if i:  # keep only the candidate and what follows it
                        del buf[:i]
                        self._base += i
                        self._candidate = 0
                        self._pos = 0
                    return
                self._candidate = None
                self._pos = i + 1
                continue
            j = buf.find(_MAGIC, self._pos)
            if j < 0:
                keep = min(len(buf), len(_MAGIC) - 1)
                drop = len(buf) - keep
                del buf[:drop]
                self._base += drop
                self._pos = 0
                return
            if (self._base + j) % _ALIGN:
                self._pos = j + 1
                continue
            self._candidate = j

    def _parse(self, i: int, final: bool) -> str:
        """'more' (wait for bytes), 'reject' (not a header, or a bad one: a notice is kept), or
        'ok' (self._found is set)."""
        buf = self._buf
        if len(buf) - i < _HEADER_BYTES:
            if not final:
                return "more"
            if len(buf) - i >= 16 and buf[i + 14] in (4, 8) and not buf[i + 15] & ~3:
                raise _Malformed(f"header truncated: {len(buf) - i} of {_HEADER_BYTES} bytes")
            return "reject"
        ptr_size, flags = buf[i + 14], buf[i + 15]
        if ptr_size not in (4, 8) or flags & ~3:
            return "reject"  # the magic bytes, but no header around them
        if not flags & _FLAG_INLINE:
            self._bad("go-buildinfo-unsupported",
                      "pointer format of Go < 1.18 (strings reached through virtual addresses): not read", i)
            return "reject"
        pos = i + _HEADER_BYTES
        strings: list[bytes] = []
        for what, cap in (("go version", self._max_version_bytes), ("module info", self._max_modinfo_bytes)):
            decoded = _uvarint(buf, pos)
            if decoded is None:
                if final:
                    raise _Malformed(f"{what} length runs past the end of the file")
                return "more"
            length, pos = decoded
            if length > cap:
                raise _Malformed(f"{what} length {length} exceeds {cap}")
            if pos + length > len(buf):
                if final:
                    raise _Malformed(f"{what} of {length} bytes runs past the end of the file ({len(buf) - pos} left)")
                return "more"
            strings.append(bytes(buf[pos : pos + length]))
            pos += length
        raw_version, raw_mod = strings
        # cmd/go wraps the module info in two binary 16-byte sentinels; like debug/buildinfo,
        # anything else means "no module info"
        if len(raw_mod) >= 2 * _SENTINEL_BYTES + 1 and raw_mod[-_SENTINEL_BYTES - 1] == 0x0A:
            raw_mod = raw_mod[_SENTINEL_BYTES:-_SENTINEL_BYTES]
        else:
            raw_mod = b""
        try:
            version = raw_version.decode("utf-8")
            text = raw_mod.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _Malformed(f"not UTF-8: {err}") from err
        if not (version.startswith("go") or version.startswith("devel ")) or not version.isprintable():
            raise _Malformed(f"go version {version[:80]!r} is not a Go version")
        path, main, deps, settings = parse_modinfo(text)
        self._found = GoBuildInfo(version, path, main, deps, settings, self._base + i, bytes(buf[i:pos]))
        return "ok"


def read_go_buildinfo(data: bytes | memoryview, path: str = "", layer: int | None = None, *,
                      chunk_bytes: int = 1 << 20) -> GoBuildInfo | Notice | None:
    """The build info of a whole file held in memory (a `GoBuildInfoScanner` fed in chunks)."""
    scanner = GoBuildInfoScanner(path, layer)
    view = memoryview(data)
    for start in range(0, len(view), chunk_bytes):
        if scanner.feed(view[start : start + chunk_bytes]):
            break
    return scanner.result()


def parse_go_buildinfo(data: bytes, location: str = "") -> list[Package]:
    """`go_packages` of the build info in `data`: a whole executable, or the `raw` block a
    scan kept (it starts with the magic). [] when there is none; raises `GoBuildInfoError`
    where the scanner would return a notice (malformed, or the Go < 1.18 format)."""
    if data.startswith(_MAGIC):
        scanner = GoBuildInfoScanner(location, require_executable=False)
        scanner.feed(data)
        found = scanner.result()
    else:
        found = read_go_buildinfo(data, location)
    if isinstance(found, Notice):
        raise GoBuildInfoError(f"{location}: {found.message} [{found.code}]")
    return [] if found is None else list(go_packages(found, location))


def _replacement(module: GoModule) -> str:
    r = module.replace
    if r is None:
        return ""
    return r.path if r.version in ("", "(devel)") else f"{r.path}@{r.version}"


def go_packages(info: GoBuildInfo, location: str = "") -> tuple[Package, ...]:
    """The main module and every dependency as Packages (ecosystem "go") located at the binary.
    Each dependency's `parent` is the main module's path (the main package's path when the
    binary has no main module); a replaced module keeps the path and version it was required
    as, and its `source` names the replacement: `path@version`, or just the path of a local
    directory. The main module's version may be "(devel)"."""
    parent = info.main.path if info.main is not None else info.path
    out = []
    if info.main is not None:
        out.append(Package("go", info.main.path, info.main.version, source=_replacement(info.main), location=location))
    for dep in info.deps:
        out.append(Package("go", dep.path, dep.version, source=_replacement(dep), location=location, parent=parent))
    return tuple(out)
