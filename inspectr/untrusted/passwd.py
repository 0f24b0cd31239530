"""The image's /etc/passwd and /etc/group (passwd(5), group(5)), parsed into typed records and
looked up the way a run needs them.

Parsing is bounded (file size, line count, line length). A line that cannot be parsed becomes a
`BadLine` instead of an error, so one broken entry does not break lookups of the others. A
lookup that lands on a bad line raises `InvalidPasswdEntry`, naming the file, line and field.
runc (libcontainer/user, now moby/sys/user) reads a non-numeric uid or gid as 0, so such an
entry would run as root there; glibc skips the line and may pick a later one. Neither is right
for a forensic run, so inspectr refuses the entry it was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EntryLimitExceeded, InvalidPasswdEntry, SizeLimitExceeded
from ..limits import Limits

__all__ = [
    "PasswdEntry", "GroupEntry", "BadLine", "MAX_LINES", "MAX_LINE_BYTES", "MAX_ID",
    "parse_id", "parse_passwd", "parse_group", "find_user", "find_group", "member_gids",
]

MAX_LINES = 100_000  # far above any real image; bounds the records built from one file
MAX_LINE_BYTES = 64 << 10  # runc's passwd reader (bufio.Scanner) fails a whole file on a longer line
# (uid_t)-1 means "leave unchanged" to setresuid/setresgid: an entry with that id would keep
# the runtime's own uid 0, so the valid range stops one short of it.
MAX_ID = (1 << 32) - 2
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() and int() accept other scripts


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    """One valid passwd line: name:password:uid:gid:gecos:home:shell."""

    name: str
    uid: int
    gid: int
    home: str  # "" when the line has no home field
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """One valid group line: name:password:gid:member,member."""

    name: str
    gid: int
    members: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be parsed. It keeps what a lookup needs to tell whether the line
    was the one asked for: the name, the line's own id if that field was valid, the members."""

    path: str
    line: int
    name: str
    id: int | None  # uid (passwd) or gid (group), when that field itself parsed
    members: tuple[str, ...]
    field: str  # which field is wrong: "line", "fields", "uid" or "gid"
    problem: str

    def error(self) -> InvalidPasswdEntry:
        """The error a lookup raises when it lands on this line."""
        return InvalidPasswdEntry(
            f"{self.path} line {self.line} (entry {_quote(self.name)}): {self.field}: {self.problem}",
            hint="the image's account files are malformed; fix the entry, or give --user as numeric UID:GID",
        )


def _quote(text: str) -> str:
    # repr escapes control characters (ESC included): image text never reaches a terminal raw
    return repr(text if len(text) <= 64 else text[:64] + "...")


def parse_id(text: str) -> int | None:
    """A uid or gid written in ASCII decimal within 0..MAX_ID, or None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _id_problem(text: str) -> str:
    if _DIGITS.fullmatch(text):
        return f"{_quote(text)} is out of range 0..{MAX_ID}"
    return f"{_quote(text)} is not a decimal number"


def _lines(data: bytes, path: str, limits: Limits) -> list[tuple[int, str, bool]]:
    """(line number, text, too long) for every line that is not blank or a comment."""
    # A whole file is read into memory, like a manifest or config: the same cap applies.
    if len(data) > limits.max_json_bytes:
        raise SizeLimitExceeded(f"{path}: larger than max_json_bytes={limits.max_json_bytes}")
    if data.count(b"\n") > MAX_LINES:  # counted before splitting: empty lines cost memory too
        raise EntryLimitExceeded(f"{path}: more than {MAX_LINES} lines")
    out = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.strip()
        if not raw or raw.startswith(b"#"):  # glibc's nss_files skips comments and blank lines
            continue
        # surrogateescape: names and homes that are not UTF-8 keep their exact bytes
        out.append((number, raw.decode("utf-8", "surrogateescape"), len(raw) > MAX_LINE_BYTES))
    return out


def parse_passwd(data: bytes, path: str = "/etc/passwd", limits: Limits = Limits()) -> tuple[PasswdEntry | BadLine, ...]:
    """Every entry of a passwd file, in order; unparseable lines as BadLine. Raises
    SizeLimitExceeded or EntryLimitExceeded when the file is over a cap."""
    out: list[PasswdEntry | BadLine] = []
    for number, text, too_long in _lines(data, path, limits):
        fields = text.split(":")
        name = fields[0]
        uid = parse_id(fields[2]) if len(fields) > 2 else None
        bad: tuple[str, str] | None = None
        if too_long:
            bad = ("line", f"longer than {MAX_LINE_BYTES} bytes")
        elif len(fields) < 4:  # glibc needs name, password, uid and gid; the rest may be empty
            bad = ("fields", f"{len(fields)} of at least 4 (name:password:uid:gid)")
        elif uid is None:
            bad = ("uid", _id_problem(fields[2]))
        elif parse_id(fields[3]) is None:
            bad = ("gid", _id_problem(fields[3]))
        if bad is not None:
            out.append(BadLine(path, number, name, uid, (), *bad))
            continue
        gid = parse_id(fields[3])
        assert uid is not None and gid is not None
        out.append(PasswdEntry(name, uid, gid, fields[5] if len(fields) > 5 else "", number))
    return tuple(out)


def parse_group(data: bytes, path: str = "/etc/group", limits: Limits = Limits()) -> tuple[GroupEntry | BadLine, ...]:
    """Every entry of a group file, in order; unparseable lines as BadLine. Raises
    SizeLimitExceeded or EntryLimitExceeded when the file is over a cap."""
    out: list[GroupEntry | BadLine] = []
    for number, text, too_long in _lines(data, path, limits):
        fields = text.split(":")
        name = fields[0]
        gid = parse_id(fields[2]) if len(fields) > 2 else None
        members = tuple(m for m in fields[3].split(",") if m) if len(fields) > 3 else ()
        bad: tuple[str, str] | None = None
        if too_long:
            bad = ("line", f"longer than {MAX_LINE_BYTES} bytes")
        elif len(fields) < 3:
            bad = ("fields", f"{len(fields)} of at least 3 (name:password:gid)")
        elif gid is None:
            bad = ("gid", _id_problem(fields[2]))
        if bad is not None:
            out.append(BadLine(path, number, name, gid, members, *bad))
            continue
        assert gid is not None
        out.append(GroupEntry(name, gid, members, number))
    return tuple(out)


def find_user(entries: tuple[PasswdEntry | BadLine, ...], user: str) -> PasswdEntry | None:
    """The first entry named `user`, or whose uid is `user` when it is a number. Raises
    InvalidPasswdEntry when that first match is a bad line; other bad lines are skipped."""
    uid = parse_id(user)
    for entry in entries:
        entry_uid = entry.id if isinstance(entry, BadLine) else entry.uid
        if entry.name == user or (uid is not None and entry_uid == uid):
            if isinstance(entry, BadLine):
                raise entry.error()
            return entry
    return None


def find_group(entries: tuple[GroupEntry | BadLine, ...], group: str) -> GroupEntry | None:
    """The first group named `group`. Raises InvalidPasswdEntry when that is a bad line."""
    for entry in entries:
        if entry.name == group:
            if isinstance(entry, BadLine):
                raise entry.error()
            return entry
    return None


def member_gids(entries: tuple[GroupEntry | BadLine, ...], user: str) -> tuple[int, ...]:
    """The gids of every group that lists `user` as a member, in file order. Raises
    InvalidPasswdEntry for a bad line that lists `user`."""
    out = []
    for entry in entries:
        if user in entry.members:
            if isinstance(entry, BadLine):
                raise entry.error()
            out.append(entry.gid)
    return tuple(out)
