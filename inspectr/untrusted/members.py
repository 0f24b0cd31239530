"""Classify tar members by their raw names and link names (R2, R5, R7, R9, R11, R12).

This is the only code that reads a `Member`'s `raw_name` and `raw_linkname` bytes. Layer members
become `MemberRecord` values: a typed kind (whiteouts and opaque markers included), a normalised
path, a normalised or decoded link target and the findings as (code, message) pairs. `fs/` builds
its entries from these records and never looks at the bytes. The walker has already parsed and
range-checked the member's numbers (mode, ids, size, times, device numbers).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from ..errors import InvalidHardlink, InvalidName, InvalidWhiteout
from ..limits import Limits
from .paths import decode_name, join_path, normalise_name, split_path
from .tar import BLOCKDEV, CHAR, DIRECTORY, FIFO, HARDLINK, REGULAR, SYMLINK, Member

__all__ = ["MemberKind", "MemberRecord", "OPAQUE_MARKER", "classify_member", "archive_member_names"]

OPAQUE_MARKER = ".wh..wh..opq"


class MemberKind(enum.StrEnum):
    """What a layer member does to the union. A StrEnum so that dict lookups on it hash in C
    (a plain Enum hashes through a Python-level __hash__, which shows up in the member loop)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    WHITEOUT = "whiteout"  # `path` names the deleted sibling (R5)
    OPAQUE = "opaque"  # `path` names the directory whose lower children are hidden (R7)


Notes = tuple[tuple[str, str], ...]


class MemberRecord(NamedTuple):
    """One layer member after classification. A NamedTuple: immutable, and as cheap to build as
    a slots dataclass (a frozen dataclass costs about four times more per member)."""

    kind: MemberKind
    # The normalised member path; for WHITEOUT the sibling it deletes, for OPAQUE its directory.
    path: str
    # A symlink's target as text, verbatim; a hardlink's normalised target; "" otherwise.
    linkname: str
    # The archive's name as text, only when it differs from the normalised member path (reports).
    raw_name: str | None
    # Non-fatal findings as (code, message), in the order they were found.
    notices: Notes


# Enum attribute lookups cost a Python call each; the hot loop uses these module constants.
_FILE, _DIR, _SYMLINK, _HARDLINK = MemberKind.FILE, MemberKind.DIR, MemberKind.SYMLINK, MemberKind.HARDLINK
_CHAR, _BLOCK, _FIFO = MemberKind.CHAR, MemberKind.BLOCK, MemberKind.FIFO
_WHITEOUT, _OPAQUE = MemberKind.WHITEOUT, MemberKind.OPAQUE
_KINDS = {
    REGULAR: _FILE,
    HARDLINK: _HARDLINK,
    SYMLINK: _SYMLINK,
    CHAR: _CHAR,
    BLOCKDEV: _BLOCK,
    DIRECTORY: _DIR,
    FIFO: _FIFO,
}
_NO_NOTES: Notes = ()


def classify_member(member: Member, limits: Limits, what: str) -> MemberRecord:
    """Classify one layer member; `what` prefixes messages (e.g. "layer 3").

    Returns a MemberRecord. Raises PathEscapeRejected, InvalidName, SizeLimitExceeded or
    EntryLimitExceeded for a name (or hardlink target) that cannot be normalised (R2),
    InvalidWhiteout for `.wh.`, `.wh..` and `.wh...` (R9), InvalidHardlink for an empty hardlink
    target and InvalidName for a NUL byte in a symlink target.
    """
    raw = member.raw_name
    path, _ = normalise_name(raw, limits, f"{what}: entry name")
    decoded = decode_name(raw)
    raw_name = None if decoded == path else decoded
    kind = _KINDS[member.typeflag]
    notes = _NO_NOTES
    # Both whiteout tests below need ".wh." somewhere in the path; almost no name has it.
    if ".wh." in path:
        parent, base = split_path(path)
        if base.startswith(".wh."):
            if base == OPAQUE_MARKER:
                return MemberRecord(_OPAQUE, parent, "", raw_name, _NO_NOTES)
            if base.startswith(".wh..wh."):
                # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): containerd and umoci keep it literally.
                notes = (("aufs-metadata", f"{what}: AUFS metadata entry {path!r} kept literally"),)
            else:
                target = base[4:]
                if target in ("", ".", ".."):
                    raise InvalidWhiteout(
                        f"{what}: whiteout {path!r} names no sibling "
                        f"(it would delete {'the parent' if target != '..' else 'the grandparent'})"
                    )
                return MemberRecord(_WHITEOUT, join_path(parent, target), "", raw_name, _NO_NOTES)
        if "/.wh." in "/" + parent:
            notes += (("wh-prefixed-directory", f"{what}: {path!r} has a '.wh.'-prefixed directory component"),)
    if b"..\\" in raw:
        notes += (("backslash-dotdot", f"{what}: {path} contains a Windows-style '..' escape (backslash)"),)
    linkname = ""
    if kind is _FILE:
        pass
    elif kind is _HARDLINK:
        raw_link = member.raw_linkname
        if not raw_link:
            raise InvalidHardlink(f"{what}: hardlink {path!r} has an empty target")
        linkname, _ = normalise_name(raw_link, limits, f"{what}: hardlink {path!r} target")
    elif kind is _SYMLINK:
        raw_link = member.raw_linkname
        if b"\x00" in raw_link:
            raise InvalidName(f"{what}: symlink {path!r}: target contains a NUL byte")
        linkname = decode_name(raw_link)
        if not linkname:
            notes += (("empty-symlink", f"{what}: symlink {path!r} has an empty target"),)
        elif _climbs_out(split_path(path)[0], linkname):
            # Resolved in-root it is harmless here; extracted naively it is a tar-slip (R12).
            notes += (("symlink-escape", f"{what}: symlink {path!r} -> {linkname!r} points above the image root"),)
    elif kind is _CHAR and member.devmajor == 0 and member.devminor == 0:
        notes += (("overlay-whiteout", f"{what}: {path!r} is a 0:0 char device (an overlayfs whiteout): kept as data (R9)"),)
    xattrs = member.xattrs
    if xattrs and any(k.startswith("trusted.overlay.") for k in xattrs):
        notes += (("overlay-xattr", f"{what}: {path!r} carries trusted.overlay.* xattrs: kept as data, never applied (R9, R16)"),)
    return MemberRecord(kind, path, linkname, raw_name, notes)


def _climbs_out(parent: str, target: str) -> bool:
    """True when a relative target climbs above the root from `parent` (lexically)."""
    if target.startswith("/"):
        return False
    depth = parent.count("/") + 1 if parent else 0
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def archive_member_names(member: Member, limits: Limits, what: str) -> tuple[str, str]:
    """The (name, link) of a member of an outer archive (docker-archive, oci-archive): the name
    normalised (R2), and a symlink's or hardlink's target decoded verbatim ("" for other types;
    the caller resolves links inside the archive). Raises what normalise_name raises."""
    name, _ = normalise_name(member.raw_name, limits, f"{what}: member name")
    link = ""
    if member.typeflag in (SYMLINK, HARDLINK):
        link = decode_name(member.raw_linkname)
    return name, link
