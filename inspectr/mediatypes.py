"""Media types inspectr knows (R21), and the compression each layer type implies (R20)."""

from __future__ import annotations

import enum


class Compression(enum.Enum):
    """How a layer blob is compressed (by media type, or by magic bytes when sniffed)."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


__all__ = [
    "Compression",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "OCI_CONFIG",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "DOCKER_CONFIG",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "CONFIG_TYPES",
    "layer_compression",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_V1_MANIFESTS = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# OCI types fix the compression: the bytes must match (a mislabelled blob is an error).
_OCI_LAYERS: dict[str, Compression] = {
    "application/vnd.oci.image.layer.v1.tar": Compression.NONE,
    "application/vnd.oci.image.layer.v1.tar+gzip": Compression.GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd": Compression.ZSTD,
    "application/vnd.oci.image.layer.nondistributable.v1.tar": Compression.NONE,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": Compression.GZIP,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": Compression.ZSTD,
}
# Docker's types are used loosely by real tools (docker itself sniffs), so the bytes decide.
_DOCKER_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)


def layer_compression(media_type: str | None) -> Compression | None:
    """The compression a layer media type requires; None means sniff. KeyError if unknown."""
    if media_type is None or media_type in _DOCKER_LAYERS:
        return None
    return _OCI_LAYERS[media_type]
