"""Image and LayerRef: what a source adapter returns. Layers hold openers, never open files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from .digest import Digest
from .fs.entry import Notice
from .limits import Limits
from .model import HistoryItem, Index, ImageConfig, Manifest
from .sources.blobs import FileSlice

__all__ = ["Image", "LayerRef"]


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One layer of an image: its descriptor facts, diff_id, history and blob location."""

    index: int
    media_type: str | None
    digest: Digest | None  # None only for legacy docker-save layers (no descriptor)
    size: int | None
    diff_id: Digest | None
    blob: FileSlice
    history: HistoryItem | None = None

    @property
    def label(self) -> str:
        return f"layer {self.index} ({self.digest or self.blob_name})"

    @property
    def blob_name(self) -> str:
        return f"{self.blob.path}@{self.blob.offset}"

    def open(self) -> BinaryIO:
        return self.blob.open()


@dataclass(slots=True)
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
    layers: list[LayerRef]
    limits: Limits
    index: Index | None = None
    index_digest: Digest | None = None
    platforms: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def platform(self) -> str:
        cfg = self.config
        return "/".join(p for p in (cfg.os, cfg.architecture, cfg.variant) if p)
