"""What `inspect` reports about an image: a plain value, built from an Image and its indexes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .fs.layer_index import LayerIndex
from .image import Image
from .mediatypes import layer_compression

__all__ = ["LayerSummary", "ImageSummary", "summarise_image"]


def _compression(media_type: str | None) -> str:
    """What the media type says (the bytes are checked by magic when a layer is read)."""
    try:
        compression = layer_compression(media_type)
    except KeyError:
        return "?"
    return compression.value if compression is not None else "?"  # Docker types: known only from the bytes


@dataclass(frozen=True, slots=True)
class LayerSummary:
    index: int
    digest: str | None
    diff_id: str | None
    media_type: str | None
    compression: str
    size: int | None
    uncompressed_size: int | None  # None: layers not read (inspect --no-layers)
    entries: int | None
    whiteouts: int | None
    created_by: str | None
    created: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class ImageSummary:
    reference: str
    format: str
    names: list[str]
    platform: str
    platforms: list[str]
    index_digest: str | None
    manifest_digest: str | None
    config_digest: str
    created: str | None
    config: dict[str, Any]
    layers: list[LayerSummary]
    history: list[dict[str, Any]]
    size: int
    uncompressed_size: int | None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # attached SLSA provenance (verify.engine.attached_provenance)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarise_image(image: Image, indexes: list[LayerIndex] | None) -> ImageSummary:
    """Combine the verified image metadata with per-layer facts from the indexes. Without
    indexes (layers not read), what only a layer's bytes tell is None."""
    cfg = image.config
    layers = []
    for ref in image.layers:
        hist = ref.history
        index = indexes[ref.index] if indexes is not None else None
        layers.append(
            LayerSummary(
                index=ref.index,
                digest=str(ref.digest) if ref.digest else None,
                diff_id=index.diff_id if index else (str(ref.diff_id) if ref.diff_id else None),
                media_type=ref.media_type,
                compression=index.compression if index else _compression(ref.media_type),
                size=index.compressed_size if index else ref.size,
                uncompressed_size=index.uncompressed_size if index else None,
                entries=len(index.entries) if index else None,
                whiteouts=sum(1 for e in index.entries if e.kind.value in ("whiteout", "opaque")) if index else None,
                created_by=hist.created_by if hist else None,
                created=hist.created if hist else None,
                comment=hist.comment if hist else None,
            )
        )
    config = {
        "entrypoint": list(cfg.entrypoint) if cfg.entrypoint is not None else None,
        "cmd": list(cfg.cmd) if cfg.cmd is not None else None,
        "env": list(cfg.env),
        "user": cfg.user,
        "working_dir": cfg.working_dir,
        "labels": dict(sorted(cfg.labels.items())),
        "exposed_ports": list(cfg.exposed_ports),
        "volumes": list(cfg.volumes),
        "stop_signal": cfg.stop_signal,
    }
    history = [
        {"created": h.created, "created_by": h.created_by, "comment": h.comment, "empty_layer": h.empty_layer}
        for h in cfg.history
    ]
    warnings = [
        {"code": n.code, "path": n.path, "layer": n.layer, "message": n.message}
        for index in indexes or []
        for n in index.notices
    ]
    return ImageSummary(
        reference=image.reference,
        format=image.format,
        names=list(image.names),
        platform=image.platform,
        platforms=list(image.platforms),
        index_digest=str(image.index_digest) if image.index_digest else None,
        manifest_digest=str(image.manifest_digest) if image.manifest_digest else None,
        config_digest=str(image.config_digest),
        created=cfg.created,
        config=config,
        layers=layers,
        history=history,
        size=sum(layer.size or 0 for layer in layers),
        uncompressed_size=sum(layer.uncompressed_size or 0 for layer in layers) if indexes is not None else None,
        warnings=warnings,
    )
