"""Inventory and LayerInfo: what one image holds, package by package (a plain value).

The inventory engine fills it from a verified image; the SBOM writers (present/sbom.py) and
`verify --sbom` read it. It imports only the Package and Notice values, so any layer may use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .notice import Notice
from .package import Package

__all__ = ["LayerInfo", "Inventory"]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer of the image. `index` is 0-based, as in Package.layer; `digest` is the hash of the
    compressed blob and `diff_id` the hash of the uncompressed tar (both "sha256:HEX");
    `created_by` is the history entry's command, already redacted by whoever built the value, or
    None when the image records no history for the layer."""

    index: int
    digest: str
    diff_id: str
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """The packages of one image, where each came from, and the verified hashes of their files.

    `reference` is what the user typed; `image_digest` the manifest digest and `config_digest`
    the config blob's, both "sha256:HEX". Each package's `layer` indexes `layers` (LayerInfo.index).
    `file_hashes` maps a normalised path (relative, no leading '/', as in PackageFile.path) to
    "sha256:HEX" for every regular file a package owns, as the verified layer index measured it
    (not as the package database claims). Treat it as read-only. `created` is the image config's
    `created` as the config records it (RFC 3339), or None: the SBOMs' timestamp, so that one image
    always gives the same SBOM."""

    reference: str
    image_digest: str
    config_digest: str
    layers: tuple[LayerInfo, ...]
    packages: tuple[Package, ...]
    notices: tuple[Notice, ...] = ()
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    created: str | None = None
