"""The records of a layer index: one Entry per tar member, whiteouts included."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..notice import Notice

__all__ = ["EntryKind", "Entry", "Notice"]


class EntryKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"
    WHITEOUT = "whiteout"  # path names the deleted sibling
    OPAQUE = "opaque"  # path names the directory whose lower children are hidden


@dataclass(slots=True)
class Entry:
    """One member of one layer, after name normalisation. `sha256` is the content digest (raw)."""

    path: str
    kind: EntryKind
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str  # symlink target verbatim, or normalised hardlink target; "" otherwise
    sha256: bytes | None
    offset: int  # header offset in the uncompressed layer stream (identifies the member)
    xattrs: dict[str, bytes] | None = None
    devmajor: int = 0
    devminor: int = 0
    raw_name: str | None = None  # set only when the archive's name differs from `path`

