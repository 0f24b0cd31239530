"""The values sources/ hands out before an image is chosen (ground floor: no I/O here).

A Container is what a reference opens: its BlobStore, its top-level index (index.json, dir:'s
manifest list) or docker save manifest.json, the images listed with their names, and notices.
Every command selects from it with the one name rule below (`select`), so `inspect`, `ls`,
`diff`, `verify`, `gate` and `pull` agree on which image a reference names, and a name that
matches nothing is a ReferenceError everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

from .digest import Digest
from .errors import ReferenceError_
from .image import BlobOpener
from .limits import Limits
from .mediatypes import INDEX_TYPES, MANIFEST_TYPES
from .model import Descriptor, DockerSaveEntry, Index
from .notice import Notice

__all__ = ["Archive", "BlobStore", "Container", "ImageEntry", "name_list", "name_matches", "member_digest", "entry_names",
           "REF_NAME", "CONTAINERD_NAME", "PULLED_FROM"]

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
# The registry reference `inspectr pull` saved an image from: `verify` of the local copy checks
# signed identities against it, as `verify docker://…` does against the reference itself.
PULLED_FROM = "dev.inspectr.pulled-from"


class BlobStore(Protocol):
    """Where a container's blobs and documents live: a layout dir, a tar, a dir: copy, a registry."""

    label: str

    def blob(self, digest: Digest, what: str) -> BlobOpener: ...
    def doc(self, name: str, what: str) -> bytes: ...
    def has_doc(self, name: str) -> bool: ...
    def list_blobs(self) -> set[str]: ...  # every blob present, as `alg:encoded`


class Archive(Protocol):
    """An outer tar's members by name (docker save's manifest.json names them)."""

    notes: list[str]
    path: Path

    def blob(self, name: str, what: str) -> BlobOpener: ...
    def read_small(self, name: str, what: str, limits: Limits) -> bytes: ...

_DIGEST_REF = re.compile(r"^@?(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_SIGNATURE_TAG = re.compile(r"sha(256|512)-[0-9a-f]+(\.(sig|att|sbom))?")
_BLOB_NAME = re.compile(r"^(?:blobs/)?(sha256)/([0-9a-f]{64})$")
_HEX_NAME = re.compile(r"^([0-9a-f]{64})\.json$")


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """One top-level entry of a container: index.json's descriptor (or dir:'s manifest.json,
    described by its own digest), or a legacy docker save entry, which has no descriptor."""

    position: int
    names: tuple[str, ...]
    descriptor: Descriptor | None
    save_entry: DockerSaveEntry | None = None

    @property
    def is_image(self) -> bool:
        """Not a signature, attestation or referrer artifact that sits in index.json."""
        d = self.descriptor
        if d is None:
            return True
        if d.media_type not in MANIFEST_TYPES and d.media_type not in INDEX_TYPES:
            return False
        kind = d.annotations.get("kind", "")
        if d.artifact_type or (kind.startswith("dev.cosignproject.cosign/")
                               and kind not in ("dev.cosignproject.cosign/image", "dev.cosignproject.cosign/imageIndex")):
            return False
        return not any(_SIGNATURE_TAG.fullmatch(n) for n in self.names)

    @property
    def label(self) -> str:
        return ", ".join(self.names) or f"@{self.position}"


def _short(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _with_tag(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else name + ":latest"


def name_list(names: Iterable[str], limit: int = 12, width: int = 120) -> str:
    """Names for an error message, capped: an image may list thousands (issue 20: one line of
    165 KB naming 5 001 entries), and any one name may be long."""
    items = list(names)
    shown = [n if len(n) <= width else n[: width - 1] + "…" for n in items[:limit]]
    more = f", … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def name_matches(ref: str, names: tuple[str, ...] | list[str]) -> bool:
    """The one name rule. A reference names an image when it equals one of its names, or names
    the same repository and tag once `docker.io/library/` is dropped and a missing tag is read
    as `latest`, or is exactly the tag of a `repo:tag` name. Never a prefix or suffix match: a
    typo names nothing."""
    for name in names:
        if name == ref:
            return True
        if "/" in name or ":" in name:  # a full reference (io.containerd.image.name, RepoTags)
            if _with_tag(_short(name)) == _with_tag(_short(ref)):
                return True
            if "/" not in ref and ":" not in ref and ":" in name.rsplit("/", 1)[-1] and name.rsplit(":", 1)[1] == ref:
                return True
    return False


@dataclass(frozen=True, slots=True)
class Container:
    """An opened layout, archive, dir: copy or registry repository. `ref` is the name part of
    the reference (None when none was given)."""

    reference: str
    transport: str  # oci | oci-archive | docker-archive | dir | docker
    path: str
    format: str
    ref: str | None
    store: BlobStore
    limits: Limits
    index: Index | None = None  # index.json, or a dir: copy's manifest list
    index_bytes: bytes | None = None
    manifest_bytes: bytes | None = None  # a dir: copy of one manifest
    entries: tuple[ImageEntry, ...] = ()
    save_entries: tuple[DockerSaveEntry, ...] = ()  # docker save manifest.json
    archive: Archive | None = None
    notices: tuple[Notice, ...] = ()
    problems: tuple[str, ...] = ()  # a registry's answers that were not usable (verify reports them)

    @property
    def names(self) -> list[str]:
        return sorted({n for e in self.entries for n in e.names} | {t for s in self.save_entries for t in s.repo_tags})

    def select(self, ref: str | None = None) -> tuple[ImageEntry, ...]:
        """The entries `ref` names (default: the reference's own). With no name, every image
        entry. Raises ReferenceError_ listing the names that exist when nothing matches."""
        ref = self.ref if ref is None else ref
        entries = self.entries or tuple(_save_entries(self.save_entries))
        if ref is None:
            return tuple(e for e in entries if e.is_image)
        hits = self._match(ref, entries)
        if not hits and self.entries and self.save_entries:
            # Docker 25+ saves: a tag may be only in manifest.json's RepoTags.
            hits = self._match(ref, tuple(_save_entries(self.save_entries)))
        if not hits:
            listed = self.names
            more = {0: "", 1: " (or @0)"}.get(len(entries), f" (or @0..@{len(entries) - 1})")
            raise ReferenceError_(
                f"{self.path}: no image named {ref!r}; available: {name_list(listed) or '(no names)'}{more}")
        return hits

    @staticmethod
    def _match(ref: str, entries: tuple[ImageEntry, ...]) -> tuple[ImageEntry, ...]:
        if ref.startswith("@") and ref[1:].isdigit():
            i = int(ref[1:])
            return (entries[i],) if i < len(entries) else ()
        m = _DIGEST_REF.match(ref)
        if m:
            return tuple(e for e in entries if e.descriptor is not None and str(e.descriptor.digest) == m.group(1))
        return tuple(e for e in entries if name_matches(ref, e.names))

    def select_one(self, ref: str | None = None) -> ImageEntry:
        """Exactly one entry, or ReferenceError_ naming the choices."""
        hits = self.select(ref)
        distinct = {str(e.descriptor.digest) if e.descriptor else f"@{e.position}" for e in hits}
        if len(distinct) == 1:
            return hits[0]
        if not hits:
            raise ReferenceError_(f"{self.path}: holds no image")
        raise ReferenceError_(
            f"{self.path}: holds {len(distinct)} images; give a reference, one of: "
            + name_list(e.label for e in hits))

def member_digest(name: str, layer: bool = False) -> Digest | None:
    """Docker names blobs by their digest (`blobs/sha256/<hex>`; configs `<hex>.json`)."""
    m = _BLOB_NAME.match(name)
    if m:
        return Digest(m.group(1), m.group(2))
    m = _HEX_NAME.match(name) if not layer else None
    return Digest("sha256", m.group(1)) if m else None


def _save_entries(entries: tuple[DockerSaveEntry, ...]) -> list[ImageEntry]:
    return [ImageEntry(e.position, e.repo_tags, None, e) for e in entries]


def entry_names(desc: Descriptor) -> tuple[str, ...]:
    return tuple(v for k, v in sorted(desc.annotations.items()) if k in (REF_NAME, CONTAINERD_NAME))
