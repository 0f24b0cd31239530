"""The values a diff returns: Change records with cause classes, and the Difference around them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cause", "Verdict", "FieldChange", "Side", "Change", "Difference"]


class Cause(enum.Enum):
    """Why two images differ at one point. Ordered from least to most significant."""

    COMPRESSION = "compression"  # same uncompressed bytes, different blob
    IMAGE_FORMAT = "image-format"  # Docker vs OCI media types and containers, same content
    IMAGE_NAME = "image-name"  # ref-name / image-name annotations, tags
    TAR_FORMAT = "tar-format"  # tar entry order or header encoding (USTAR/PAX/GNU)
    LAYER_BOUNDARIES = "layer-boundaries"  # same files, split into layers differently
    TIMESTAMP = "timestamp"  # file mtimes, config/history created
    HISTORY = "history"  # history and other metadata that does not change the filesystem
    OWNERSHIP_NAMES = "ownership-names"  # uname/gname only (ids equal)
    NOISE = "log-cache-noise"  # logs, caches, ld.so.cache, __pycache__, shadow lastchange
    NESTED_ARCHIVE = "nested-archive-metadata"  # zip/jar/tar/gzip members equal but for metadata
    BUILD_ID = "build-id"  # ELF files equal but for the GNU build-id note
    CONTENT = "content"  # a real change

    @property
    def rank(self) -> int:
        return list(Cause).index(self)


# Classes that are never a change in what the image contains or does.
DEFAULT_IGNORABLE = frozenset({Cause.COMPRESSION, Cause.IMAGE_FORMAT})
SEMANTIC_IGNORABLE = DEFAULT_IGNORABLE | {
    Cause.IMAGE_NAME, Cause.TAR_FORMAT, Cause.LAYER_BOUNDARIES, Cause.TIMESTAMP, Cause.HISTORY, Cause.OWNERSHIP_NAMES,
}


class Verdict(enum.Enum):
    IDENTICAL = "identical"
    EQUIVALENT = "equivalent"
    DIFFERENT = "different"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: `a` and `b` are JSON-able values (None where absent)."""

    name: str
    a: Any
    b: Any
    cause: Cause


@dataclass(frozen=True, slots=True)
class Side:
    """Provenance on one side: the layer that put the entry there and its history line."""

    layer: int | None
    created_by: str | None = None


@dataclass(slots=True)
class Change:
    """One difference. `subject` is index|manifest|config|history|layer|hidden|package|file; `path`
    is a file path relative to the image root for files, `ECOSYSTEM:NAME[:ARCH][@LOCATION]` for
    packages (change added|removed|upgraded|downgraded), else a dotted field name."""

    subject: str
    path: str
    change: str  # added | removed | modified | renamed
    cause: Cause
    fields: list[FieldChange] = field(default_factory=list)
    a: Side | None = None
    b: Side | None = None
    renamed_from: str | None = None
    content_diff: str | None = None
    note: str | None = None
    accepted_by: str | None = None
    platform: str | None = None
    paths: list[str] | None = None  # the file paths a layer-level change is about
    # file changes, when either image has a package inventory: the owning package ("name
    # version") on each side, and whether a package change (added, removed, new version) explains it
    owners: tuple[str | None, str | None] | None = None
    explained: bool | None = None

    @property
    def suspicious(self) -> bool:
        """A content change to a file that no package change explains."""
        return self.subject == "file" and self.explained is False and self.cause is Cause.CONTENT

    @property
    def accepted(self) -> bool:
        return self.accepted_by is not None

    def mirrored(self) -> "Change":
        """The same change seen from the other side (for diff(b, a))."""
        flip = {"added": "removed", "removed": "added", "upgraded": "downgraded", "downgraded": "upgraded"}.get(
            self.change, self.change)
        path = self.renamed_from if self.change == "renamed" and self.renamed_from else self.path
        if self.subject == "history":  # history[a:I,b:J] names positions on each side
            path = re.sub(r"\b([ab]):", lambda m: {"a": "b:", "b": "a:"}[m.group(1)], path)
            parts = re.findall(r"[ab]:\d+", path)
            if len(parts) == 2:
                path = f"history[{sorted(parts)[0]},{sorted(parts)[1]}]"
        return Change(
            subject=self.subject,
            path=path,
            change=flip,
            cause=self.cause,
            fields=[FieldChange(f.name, f.b, f.a, f.cause) for f in self.fields],
            a=self.b,
            b=self.a,
            renamed_from=self.path if self.change == "renamed" else None,
            content_diff=None,
            note=self.note,
            accepted_by=self.accepted_by,
            platform=self.platform,
            paths=self.paths,
            owners=(self.owners[1], self.owners[0]) if self.owners else None,
            explained=self.explained,
        )


@dataclass(slots=True)
class Difference:
    """What differs between image A and image B, and the verdict. `changes` are sorted by
    (subject order, path); accepted changes stay in the list, marked with `accepted_by`."""

    a: dict[str, Any]
    b: dict[str, Any]
    verdict: Verdict
    changes: list[Change]
    explanation: str
    hints: list[str] = field(default_factory=list)

    def counts(self, accepted: bool | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            if accepted is None or c.accepted == accepted:
                out[c.cause.value] = out.get(c.cause.value, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: Cause(kv[0]).rank))

    @property
    def unaccepted(self) -> list[Change]:
        return [c for c in self.changes if not c.accepted]
