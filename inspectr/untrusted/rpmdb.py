"""The rpm database that rpm >= 4.16 writes (`rpmdb.sqlite`), read from bytes, and the older
formats recognised by path and magic so they can be reported instead of guessed at.

The database is opened in memory: `sqlite3.connect(":memory:")` then `Connection.deserialize`,
never a temporary file. SQLite sees only that one connection, which is read-only
(`query_only`), does not trust the schema (`trusted_schema=OFF`: a view or trigger in a hostile
file cannot call functions with side effects), has small limits (`setlimit`: no attached
databases, a blob no larger than `max_header_bytes`), an authorizer that allows nothing but
SELECT on `Packages` and `sqlite_master`, and a progress handler that stops a query after
`max_sqlite_steps` virtual machine steps (a hostile schema cannot make it run for ever).

Each row of `Packages(hnum, blob)` is an rpm header as headerExport writes it (rpm's
lib/header.c; there is no 8-byte magic in the database): two big-endian int32s, the index
count `il` and the data length `dl`, then `il` 16-byte index entries (tag, type, offset,
count), then the `dl`-byte data store. The blob must be exactly that long, and every entry that
is read is checked against the store before a byte of it is used: offsets inside the store,
counts no larger than the bytes that could hold them, strings NUL-terminated inside the store,
integer arrays aligned and inside it, and rpm's own caps (65535 entries, 256 MiB of data).

Errors. Hostile input never gives a traceback:
- `read_rpmdb` raises `RpmDbError` (a `pkgdb.PackageDbError`, so a ValueError and not an
  InspectrError: the caller turns it into a finding about the one database) when the bytes as a whole cannot be read: too large,
  not SQLite, no `Packages` table, a query SQLite refuses (corrupt pages, a blob over the cap,
  the step budget spent), or more packages than `max_packages`.
- One header that cannot be parsed does not hide the others: it becomes a `Notice` with code
  `rpmdb-bad-header` in `RpmdbContents.notices` (naming its hnum), and its package is left out.
  A digest algorithm rpm knows but this reader does not (rpm 4.19's SHA-3 ids, say) keeps the
  package, its files without digests, and adds `rpmdb-unknown-digest-algorithm`.
- `parse_rpm_header` (one blob) raises `RpmDbError`.
- The BerkeleyDB `Packages` and ndb `Packages.db` formats are not read. Recognised by magic
  (`detect_rpmdb_format`), they make `read_rpmdb` raise `RpmDbUnsupported` (an `RpmDbError`
  whose `code` is `rpmdb-unsupported-format`), and `rpmdb_format_notice` turns a path and its
  first bytes into a `Notice` with that code without reading further.

`Package.source` is the source package's *name* taken from SOURCERPM (`hello-1.0-1.src.rpm`
gives `hello`), like dpkg's Source field, so the purl's `upstream=` qualifier appears only when
the source package is named differently. A SOURCERPM that is not `N-V-R.src.rpm` (or
`.nosrc.rpm`) is kept whole. `rpm -qa` lists the `gpg-pubkey` pseudo-packages (imported keys)
as packages, and so does this reader; a caller may filter them.
"""

from __future__ import annotations

import enum
import sqlite3
import stat
import struct
from dataclasses import dataclass

from ..notice import Notice
from ..package import Package, PackageFile
from .pkgdb import PackageDbError

__all__ = [
    "RpmDbError", "RpmDbUnsupported", "RpmdbFormat", "RpmdbContents", "RpmHeader", "RPMDB_PATHS", "MAX_DB_BYTES", "MAX_HEADER_BYTES",
    "MAX_PACKAGES", "read_rpmdb", "parse_rpmdb", "parse_rpm_header", "rpm_package", "detect_rpmdb_format", "rpmdb_format_notice",
]

MAX_DB_BYTES = 512 << 20  # a full Fedora image's rpmdb.sqlite is tens of MiB
MAX_HEADER_BYTES = 64 << 20  # one package's header; the largest real ones (texlive, kernel modules) are a few MiB
MAX_PACKAGES = 100_000
MAX_SQLITE_STEPS = 200_000_000  # virtual machine steps for all queries; a real database needs far fewer
_STEPS_PER_CALL = 10_000

# rpm's own caps (lib/header_internal.h): HEADER_TAGS_MAX and HEADER_DATA_MAX
_HEADER_TAGS_MAX = 0xFFFF
_HEADER_DATA_MAX = 0x0FFFFFFF

# Where rpm keeps its database: the classic place and the one Fedora >= 36 and openSUSE use.
RPMDB_PATHS = (
    "var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages",
    "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db",
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_NDB_MAGIC = b"RpmP"  # lib/backend/ndb/rpmpkg.c: PKGDB_MAGIC ('R' | 'p' << 8 | 'm' << 16 | 'P' << 24), little-endian
_BDB_MAGICS = (0x00061561, 0x00053162)  # BerkeleyDB hash and btree, at offset 12 of the meta page, either byte order

# Header tags (rpmtag.h)
_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_FILEMODES, _FILEDIGESTS, _FILEFLAGS = 1030, 1035, 1037
_DIRINDEXES, _BASENAMES, _DIRNAMES = 1116, 1117, 1118
_FILEDIGESTALGO = 5011
_RPMFILE_CONFIG = 1

# Tag data types (rpmtag.h rpmTagType_e): NULL CHAR INT8 INT16 INT32 INT64 STRING BIN STRING_ARRAY I18NSTRING
_INT16, _INT32, _STRING, _STRING_ARRAY, _I18NSTRING = 3, 4, 6, 8, 9
_MAX_TYPE = 9

# PGP hash algorithm ids (RFC 4880 9.4) as rpm records them in FILEDIGESTALGO; md5 when absent.
_DIGEST_ALGOS = {1: ("md5", 16), 2: ("sha1", 20), 8: ("sha256", 32), 9: ("sha384", 48), 10: ("sha512", 64),
                 11: ("sha224", 28)}
_HEX = frozenset("0123456789abcdef")


class RpmDbError(PackageDbError):
    """The rpm database, or one header blob, cannot be read. The message names the step and
    quotes the value that failed."""


class RpmDbUnsupported(RpmDbError):
    """The bytes are an rpm database in a format this module does not read (BerkeleyDB, ndb)."""

    code = "rpmdb-unsupported-format"


class RpmdbFormat(enum.Enum):
    SQLITE = "sqlite"  # rpm >= 4.16 default: rpmdb.sqlite
    BERKELEY_DB = "bdb"  # rpm < 4.16 default: Packages
    NDB = "ndb"  # rpm's own format (openSUSE): Packages.db
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RpmdbContents:
    """What `read_rpmdb` found: the packages in hnum order, and a notice for each header left out."""

    packages: tuple[Package, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """The index and data store of one header blob, already checked to fit each other."""

    entries: dict[int, tuple[int, int, int]]  # tag -> (type, offset, count); the last entry wins
    store: bytes

    def _entry(self, tag: int, types: tuple[int, ...]) -> tuple[int, int, int] | None:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        if entry[0] not in types:
            raise RpmDbError(f"tag {tag}: type {entry[0]}, expected one of {types}")
        return entry

    def strings(self, tag: int) -> list[str] | None:
        """A STRING, STRING_ARRAY or I18NSTRING tag as a list, or None when absent."""
        entry = self._entry(tag, (_STRING, _STRING_ARRAY, _I18NSTRING))
        if entry is None:
            return None
        kind, offset, count = entry
        if kind == _STRING and count != 1:
            raise RpmDbError(f"tag {tag}: STRING with count {count}")
        # every string takes at least its NUL: a larger count cannot fit (checked before the loop)
        if count > len(self.store) - offset:
            raise RpmDbError(f"tag {tag}: count {count} does not fit in the {len(self.store) - offset} bytes after offset {offset}")
        out = []
        pos = offset
        for _ in range(count):
            end = self.store.find(b"\x00", pos)
            if end < 0:
                raise RpmDbError(f"tag {tag}: string at offset {pos} is not NUL-terminated inside the data store")
            try:
                out.append(self.store[pos:end].decode("utf-8"))
            except UnicodeDecodeError as err:
                raise RpmDbError(f"tag {tag}: string at offset {pos} is not UTF-8: {self.store[pos:end][:60]!r}") from err
            pos = end + 1
        return out

    def string(self, tag: int) -> str | None:
        values = self.strings(tag)
        return None if values is None else values[0] if values else ""

    def ints(self, tag: int) -> list[int] | None:
        """An INT16 or INT32 tag as a list of unsigned values, or None when absent."""
        entry = self._entry(tag, (_INT16, _INT32))
        if entry is None:
            return None
        kind, offset, count = entry
        size = 2 if kind == _INT16 else 4
        if offset % size:
            raise RpmDbError(f"tag {tag}: offset {offset} is not aligned to {size}")
        if count > (len(self.store) - offset) // size:
            raise RpmDbError(f"tag {tag}: {count} values of {size} bytes do not fit after offset {offset}")
        return list(struct.unpack_from(f">{count}{'H' if size == 2 else 'I'}", self.store, offset))


def parse_rpm_header(blob: bytes) -> RpmHeader:
    """Split one header blob (il, dl, index, data store) into an `RpmHeader`. Raises
    `RpmDbError` when the lengths disagree with the blob or an entry points outside the store."""
    if len(blob) < 8:
        raise RpmDbError(f"header: {len(blob)} bytes, shorter than its 8-byte lengths")
    il, dl = struct.unpack_from(">ii", blob, 0)
    if not 1 <= il <= _HEADER_TAGS_MAX:
        raise RpmDbError(f"header: index count {il} outside 1..{_HEADER_TAGS_MAX}")
    if not 0 <= dl <= _HEADER_DATA_MAX:
        raise RpmDbError(f"header: data length {dl} outside 0..{_HEADER_DATA_MAX}")
    expected = 8 + 16 * il + dl
    if len(blob) != expected:
        raise RpmDbError(f"header: {len(blob)} bytes, but index count {il} and data length {dl} need {expected}")
    store = blob[8 + 16 * il:]
    entries: dict[int, tuple[int, int, int]] = {}
    for i in range(il):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        if not 0 <= kind <= _MAX_TYPE:
            raise RpmDbError(f"header: entry {i} (tag {tag}): unknown type {kind}")
        if not 0 <= offset <= dl:
            raise RpmDbError(f"header: entry {i} (tag {tag}): offset {offset} outside the {dl}-byte data store")
        if count > dl:  # every element takes at least a byte, so a count past dl is a lie
            raise RpmDbError(f"header: entry {i} (tag {tag}): count {count} larger than the {dl}-byte data store")
        entries[tag] = (kind, offset, count)
    return RpmHeader(entries, store)


def _source_name(sourcerpm: str) -> str:
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if sourcerpm.endswith(suffix):
            parts = sourcerpm[: -len(suffix)].rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return parts[0]
    return sourcerpm


def _normalise(path: str) -> str:
    parts = []
    for part in path.split("/"):
        if part == "..":
            raise RpmDbError(f"file {path!r}: climbs out of the root")
        if part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def rpm_package(header: RpmHeader, location: str = "") -> tuple[Package, int | None]:
    """The `Package` one parsed header describes, and the FILEDIGESTALGO id when it is one this
    reader does not know (its files then carry no digests). Raises `RpmDbError` when a tag is
    malformed or the file arrays disagree."""
    name = header.string(_NAME)
    version = header.string(_VERSION)
    release = header.string(_RELEASE)
    if not name or version is None or release is None:
        raise RpmDbError("header: no NAME, VERSION or RELEASE")
    epoch = header.ints(_EPOCH)
    full = f"{version}-{release}"
    if epoch:
        full = f"{epoch[0]}:{full}"
    sourcerpm = header.string(_SOURCERPM) or ""

    basenames = header.strings(_BASENAMES) or []
    n = len(basenames)
    dirindexes = header.ints(_DIRINDEXES) or []
    dirnames = header.strings(_DIRNAMES) or []
    digests = header.strings(_FILEDIGESTS)
    flags = header.ints(_FILEFLAGS)
    modes = header.ints(_FILEMODES)
    if len(dirindexes) != n:
        raise RpmDbError(f"{name}: {n} BASENAMES but {len(dirindexes)} DIRINDEXES")
    for tag, values in (("FILEDIGESTS", digests), ("FILEFLAGS", flags), ("FILEMODES", modes)):
        if values is not None and len(values) != n:
            raise RpmDbError(f"{name}: {n} BASENAMES but {len(values)} {tag}")
    algo_ids = header.ints(_FILEDIGESTALGO)
    algo_id = algo_ids[0] if algo_ids else 1
    algo = _DIGEST_ALGOS.get(algo_id)
    files = []
    for i, base in enumerate(basenames):
        if dirindexes[i] >= len(dirnames):
            raise RpmDbError(f"{name}: file {i} has DIRINDEX {dirindexes[i]}, but there are {len(dirnames)} DIRNAMES")
        path = _normalise(dirnames[dirindexes[i]] + base)
        if not path:
            continue
        digest = ""
        hexdigest = digests[i] if digests is not None else ""
        regular = modes is None or stat.S_ISREG(modes[i])
        if hexdigest and algo is not None and regular:
            if len(hexdigest) != 2 * algo[1] or not set(hexdigest) <= _HEX:
                raise RpmDbError(f"{name}: file {path!r}: {hexdigest[:140]!r} is not a {algo[0]} digest")
            digest = f"{algo[0]}:{hexdigest}"
        files.append(PackageFile(path, digest, bool(flags is not None and flags[i] & _RPMFILE_CONFIG)))
    package = Package(ecosystem="rpm", name=name, version=full, arch=header.string(_ARCH) or "",
                      source=_source_name(sourcerpm), location=location, files=tuple(files))
    return package, (None if algo is not None or not basenames else algo_id)


def _rollback_mode(data: bytes) -> bytes:
    # rpm opens its database in WAL mode, which marks the file header (bytes 18 and 19, the
    # file format write and read versions) with 2. SQLite's in-memory VFS cannot open a WAL
    # database ("unable to open database file"), so the copy handed to it says 1 (rollback
    # journal). The pages are the same; what a -wal file beside the database holds is not seen.
    if data[18:20] == b"\x02\x02":
        return data[:18] + b"\x01\x01" + data[20:]
    return data


def _open_memory_db(data: bytes, max_header_bytes: int, max_sqlite_steps: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(_rollback_mode(data))
        conn.text_factory = bytes  # TEXT from the file may be any bytes, not UTF-8
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA cell_size_check=ON")  # notice corrupt b-tree pages early
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_header_bytes)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1 << 16)
        conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100)
        conn.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 10)
        calls = [0]

        def progress() -> int:
            calls[0] += 1
            return 1 if calls[0] * _STEPS_PER_CALL > max_sqlite_steps else 0

        def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
            if action == sqlite3.SQLITE_SELECT:
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_READ and arg1 in ("Packages", "sqlite_master"):
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_FUNCTION and arg2 == "typeof":
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY

        conn.set_progress_handler(progress, _STEPS_PER_CALL)
        conn.set_authorizer(authorize)
    except BaseException:
        conn.close()
        raise
    return conn


def read_rpmdb(data: bytes, location: str = "", layer: int | None = None, *, max_db_bytes: int = MAX_DB_BYTES,
               max_header_bytes: int = MAX_HEADER_BYTES, max_packages: int = MAX_PACKAGES,
               max_sqlite_steps: int = MAX_SQLITE_STEPS) -> RpmdbContents:
    """Every package in an `rpmdb.sqlite` held in `data`, in hnum order, each with `location`
    set; `layer` goes into the notices. Raises `RpmDbError` when the database as a whole cannot
    be read (see the module docstring); a header that cannot be parsed becomes a notice."""
    if len(data) > max_db_bytes:
        raise RpmDbError(f"rpmdb {location!r}: {len(data)} bytes exceeds max_db_bytes={max_db_bytes}")
    found = detect_rpmdb_format(data[:64])
    if found in (RpmdbFormat.BERKELEY_DB, RpmdbFormat.NDB):
        raise RpmDbUnsupported(f"rpmdb {location!r}: {_FORMAT_NAMES[found]}; only rpmdb.sqlite is read")
    if found is not RpmdbFormat.SQLITE:
        raise RpmDbError(f"rpmdb {location!r}: not an SQLite database (starts {data[:16]!r})")
    packages: list[Package] = []
    notices: list[Notice] = []
    try:
        conn = _open_memory_db(data, max_header_bytes, max_sqlite_steps)
        try:
            row = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if row is None or row[0] != b"table":
                raise RpmDbError(f"rpmdb {location!r}: no Packages table: not an rpm database")
            cursor = conn.execute("SELECT hnum, blob, typeof(blob) FROM Packages ORDER BY hnum")
            count = 0
            while rows := cursor.fetchmany(64):
                for hnum, blob, kind in rows:
                    count += 1
                    if count > max_packages:
                        raise RpmDbError(f"rpmdb {location!r}: more than max_packages={max_packages} packages")
                    if kind != b"blob" or not isinstance(blob, bytes):
                        notices.append(Notice("rpmdb-bad-header", location, layer,
                                              f"rpmdb hnum {hnum!r}: blob is {kind.decode('ascii', 'replace')}, not a blob"))
                        continue
                    try:
                        package, unknown_algo = rpm_package(parse_rpm_header(blob), location)
                    except RpmDbError as err:
                        notices.append(Notice("rpmdb-bad-header", location, layer, f"rpmdb hnum {hnum!r}: {err}"))
                        continue
                    if unknown_algo is not None:
                        notices.append(Notice("rpmdb-unknown-digest-algorithm", location, layer,
                                              f"rpmdb package {package.name!r}: FILEDIGESTALGO {unknown_algo} is not known; "
                                              "its files are listed without digests"))
                    packages.append(package)
        finally:
            conn.close()
    except sqlite3.Error as err:  # DatabaseError ("file is not a database", "malformed"), TOOBIG, interrupted, denied
        raise RpmDbError(f"rpmdb {location!r}: sqlite refused it: {err}") from err
    except (OverflowError, MemoryError, UnicodeDecodeError) as err:
        raise RpmDbError(f"rpmdb {location!r}: cannot be loaded: {err}") from err
    return RpmdbContents(tuple(packages), tuple(notices))


_FORMAT_NAMES = {RpmdbFormat.BERKELEY_DB: "a BerkeleyDB rpm database (rpm < 4.16)",
                 RpmdbFormat.NDB: "an ndb rpm database (Packages.db)"}


def parse_rpmdb(data: bytes, location: str = "") -> list[Package]:
    """`read_rpmdb(data, location).packages` as a list, for callers that want packages only:
    headers that cannot be parsed are left out silently (`read_rpmdb` names them). Raises
    `RpmDbError`, and `RpmDbUnsupported` for a BerkeleyDB or ndb database."""
    return list(read_rpmdb(data, location).packages)


def detect_rpmdb_format(head: bytes) -> RpmdbFormat:
    """The rpm database format that the first bytes of a file (at least 16) show."""
    if head.startswith(_SQLITE_MAGIC):
        return RpmdbFormat.SQLITE
    if head.startswith(_NDB_MAGIC):
        return RpmdbFormat.NDB
    if len(head) >= 16:
        for order in ("<I", ">I"):
            if struct.unpack_from(order, head, 12)[0] in _BDB_MAGICS:
                return RpmdbFormat.BERKELEY_DB
    return RpmdbFormat.UNKNOWN


def rpmdb_format_notice(path: str, head: bytes, layer: int | None = None) -> Notice | None:
    """None when the file at `path` (one of RPMDB_PATHS, normalised) is an rpmdb.sqlite that
    `read_rpmdb` can read; otherwise a Notice with code `rpmdb-unsupported-format` naming the
    format it is (BerkeleyDB, ndb, or not recognised). Never raises."""
    found = detect_rpmdb_format(head)
    if found is RpmdbFormat.SQLITE:
        return None
    what = _FORMAT_NAMES.get(found, f"an unrecognised file (starts {head[:16]!r}) where rpm keeps its database")
    return Notice("rpmdb-unsupported-format", path, layer,
                  f"{path}: {what}; only rpmdb.sqlite is read, so its packages are not listed")
