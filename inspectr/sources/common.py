"""What every source shares: blob stores, verified document reads, index narrowing, Image assembly."""

from __future__ import annotations

import os
import platform as host_platform
import re
from pathlib import Path

from ..digest import Digest
from ..errors import (
    BlobNotFound,
    DiffIdMismatch,
    EntryLimitExceeded,
    MalformedImage,
    ReferenceError_,
    SizeLimitExceeded,
    UnsupportedMediaType,
)
from ..image import Image, LayerRef
from ..limits import Limits
from ..mediatypes import CONFIG_TYPES, layer_compression
from ..model import Descriptor, ImageConfig, Index, Manifest, Platform
from ..store import BlobStore, name_list
from ..untrusted.documents import read_descriptor
from .blobs import ArchiveIndex, FileSlice, open_dir_file

__all__ = [
    "DirStore",
    "ArchiveStore",
    "assemble_image",
    "host_platform_default",
    "choose_platform",
]

class DirStore:
    """An OCI layout dir (`blobs/<alg>/<hex>`) or skopeo dir: (`<hex>`)."""

    def __init__(self, root: Path, limits: Limits, flat: bool = False) -> None:
        self.root = root
        self.label = str(root)
        self._limits = limits
        self._flat = flat

    def blob(self, digest: Digest, what: str) -> FileSlice:
        rel = digest.encoded if self._flat else f"blobs/{digest.algorithm}/{digest.encoded}"
        return open_dir_file(self.root, rel, what)

    def doc(self, name: str, what: str) -> bytes:
        blob = open_dir_file(self.root, name, what)
        if blob.length > self._limits.max_json_bytes:
            raise SizeLimitExceeded(f"{self.root}: {what}: {name} is {blob.length} bytes, over max_json_bytes")
        with blob.open() as fp:
            data = fp.read(blob.length + 1)
        if len(data) != blob.length:  # changed while read: a regular file, but not a stable one
            raise MalformedImage(f"{self.root}: {what}: {name} changed while it was read")
        return data

    def has_doc(self, name: str) -> bool:
        return (self.root / name).is_file() and not (self.root / name).is_symlink()

    def list_blobs(self) -> set[str]:
        """Every blob file present, as `alg:encoded` (for unreferenced-blob checks)."""
        out: set[str] = set()
        if self._flat:
            for entry in os.scandir(self.root):
                if re.fullmatch(r"[0-9a-f]{64}", entry.name):
                    out.add(f"sha256:{entry.name}")
            return out
        base = self.root / "blobs"
        if base.is_dir():
            for alg in os.scandir(base):
                if alg.is_dir(follow_symlinks=False):
                    out.update(f"{alg.name}:{e.name}" for e in os.scandir(alg.path))
        return out


class ArchiveStore:
    """An OCI layout inside a tar (oci-archive, Docker 25+ docker-archive)."""

    def __init__(self, archive: ArchiveIndex, limits: Limits) -> None:
        self.archive = archive
        self.label = str(archive.path)
        self._limits = limits

    def blob(self, digest: Digest, what: str) -> FileSlice:
        return self.archive.blob(f"blobs/{digest.algorithm}/{digest.encoded}", what)

    def doc(self, name: str, what: str) -> bytes:
        return self.archive.read_small(name, what, self._limits)

    def has_doc(self, name: str) -> bool:
        return name in self.archive

    def list_blobs(self) -> set[str]:
        out = set()
        for name in self.archive.names():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "blobs" and parts[2]:
                out.add(f"{parts[1]}:{parts[2]}")
        return out


def host_platform_default() -> Platform:
    machine = host_platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}.get(machine, machine)
    return Platform("linux", arch)


def _is_attestation(desc: Descriptor) -> bool:
    if desc.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
        return True
    return desc.platform is not None and desc.platform.os == "unknown" and desc.platform.architecture == "unknown"


def choose_platform(cands: list[Descriptor], want: Platform | None, where: str) -> tuple[Descriptor, list[str]]:
    images = [d for d in cands if not _is_attestation(d)]
    available = sorted({str(d.platform) for d in images if d.platform})
    if want is not None and want.os == "*":  # any platform: the first, for listing the others
        ordered = sorted(images, key=lambda d: str(d.platform))
        return ordered[0], available
    if want is not None:
        hits = [d for d in images if d.platform is not None and d.platform.matches(want)]
        if not hits:
            raise ReferenceError_(f"{where}: no image for platform {want}; available: {name_list(available) or 'none'}")
        return hits[0], available
    if len(images) == 1:
        return images[0], available
    host = host_platform_default()
    hits = [d for d in images if d.platform is not None and d.platform.matches(host)]
    if hits:
        return hits[0], available
    raise ReferenceError_(
        f"{where}: index has several platforms and none is the host's ({host}); use --platform with one of: {name_list(available)}"
    )


def check_layer_count(where: str, count: int, config: ImageConfig, limits: Limits) -> None:
    """R22: one diff_id per layer; and the layer-count cap (R24)."""
    if count > limits.max_layers:
        raise EntryLimitExceeded(f"{where}: {count} layers exceeds max_layers={limits.max_layers}")
    if len(config.diff_ids) != count:
        raise DiffIdMismatch(
            f"{where}: diff_id count mismatch: manifest has {count} layers, config lists {len(config.diff_ids)} diff_ids"
        )


def assemble_image(
    *,
    store: BlobStore,
    reference: str,
    transport: str,
    path: str,
    fmt: str,
    manifest: Manifest,
    manifest_digest: Digest | None,
    manifest_bytes: bytes | None,
    limits: Limits,
    index: Index | None = None,
    index_digest: Digest | None = None,
    platforms: list[str] | None = None,
    names: list[str] | None = None,
    entry_digest: Digest | None = None,
) -> Image:
    """Read and verify the config, check diff_id counts and media types, and build the Image."""
    where = store.label
    if manifest.config.media_type not in CONFIG_TYPES:
        raise UnsupportedMediaType(f"{where}: config media type {manifest.config.media_type!r} is not an image config")
    config_bytes, doc = read_descriptor(store, manifest.config, "config", limits)
    config = ImageConfig.from_json(doc, f"{where}: config {manifest.config.digest}")
    check_layer_count(where, len(manifest.layers), config, limits)
    history = config.layer_history()
    layers: list[LayerRef] = []
    for i, desc in enumerate(manifest.layers):
        try:
            layer_compression(desc.media_type)
        except KeyError:
            raise UnsupportedMediaType(f"{where}: layer {i} has unsupported media type {desc.media_type!r}") from None
        if desc.size > limits.max_blob_bytes:
            raise SizeLimitExceeded(f"{where}: layer {i}: descriptor size {desc.size} exceeds max_blob_bytes={limits.max_blob_bytes}")
        try:
            blob = store.blob(desc.digest, f"layer {i}")
        except BlobNotFound as err:
            if desc.urls:
                raise BlobNotFound(
                    f"{err.message} (a foreign layer with urls; inspectr never fetches urls)"
                ) from None
            raise
        layers.append(LayerRef(i, desc.media_type, desc.digest, desc.size, config.diff_ids[i], blob, history[i]))
    return Image(
        reference=reference,
        transport=transport,
        path=path,
        format=fmt,
        manifest=manifest,
        manifest_digest=manifest_digest,
        manifest_bytes=manifest_bytes,
        config=config,
        config_digest=manifest.config.digest,
        config_bytes=config_bytes,
        layers=tuple(layers),
        limits=limits,
        index=index,
        index_digest=index_digest,
        platforms=tuple(platforms or ()),
        names=tuple(names or ()),
        entry_digest=entry_digest,
    )
