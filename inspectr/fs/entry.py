"""The records of a layer index: one Entry per tar member, whiteouts included."""

from __future__ import annotations

from dataclasses import dataclass

from ..notice import Notice
from ..untrusted.members import MemberKind

__all__ = ["EntryKind", "Entry", "Notice"]


# One set of kinds from the tar member to the merged tree: untrusted/members.py classifies a
# member into it, and an Entry keeps it.
EntryKind = MemberKind


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

