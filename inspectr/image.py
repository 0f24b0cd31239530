"""Image and LayerRef: what a source adapter returns. Layers hold openers, never open files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from .digest import Digest
from .limits import Limits
from .model import HistoryItem, Index, ImageConfig, Manifest
from .notice import Notice

__all__ = ["BlobOpener", "Image", "LayerRef"]


class BlobOpener(Protocol):
    """Where a blob's bytes come from. Sources hand these out (a file slice, a registry blob, or
    one they synthesise); readers open them when they stream. Picklable, for worker processes."""

    @property
    def length(self) -> int: ...

    @property
    def key(self) -> str: ...  # names the bytes' location in reports, e.g. `path@offset`

    def open(self) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One layer of an image: its descriptor facts, diff_id, history and blob location."""

    index: int
    media_type: str | None
    digest: Digest | None  # None only for legacy docker-save layers (no descriptor)
    size: int | None
    diff_id: Digest | None
    blob: BlobOpener
    history: HistoryItem | None = None

    @property
    def label(self) -> str:
        return f"layer {self.index} ({self.digest or self.blob_name})"

    @property
    def blob_name(self) -> str:
        return self.blob.key

    def open(self) -> BinaryIO:
        return self.blob.open()


@dataclass(frozen=True, slots=True)
class Image:
    """A resolved image: manifest and config already read and verified; layers not yet read."""

    reference: str
    transport: str
    path: str
    format: str
    manifest: Manifest | None  # None for legacy docker-save archives, which have no manifest
    manifest_digest: Digest | None
    manifest_bytes: bytes | None
    config: ImageConfig
    config_digest: Digest
    config_bytes: bytes
    layers: tuple[LayerRef, ...]
    limits: Limits
    index: Index | None = None
    index_digest: Digest | None = None
    platforms: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    notices: tuple[Notice, ...] = ()
    # The top-level entry this image was selected by (index.json's descriptor digest; None for
    # a legacy docker save entry): what signatures and `verify` name.
    entry_digest: Digest | None = None

    @property
    def platform(self) -> str:
        cfg = self.config
        return "/".join(p for p in (cfg.os, cfg.architecture, cfg.variant) if p)
