"""`docker save` archives: the legacy form (manifest.json, <id>/layer.tar) and the Docker 25+
form, which is an OCI layout inside the tar plus the legacy manifest.json."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ..digest import Digest
from ..errors import DigestMismatch, MalformedImage, ReferenceError_
from ..image import Image, LayerRef
from ..limits import Limits
from ..model import ImageConfig, Platform
from ..untrusted.jsonload import load_json
from .blobs import ArchiveIndex
from .common import ArchiveStore, check_layer_count
from .oci_layout import archive_notices, open_oci_store

__all__ = ["open_docker_archive"]

_BLOB_NAME = re.compile(r"^(?:blobs/)?(sha256)/([0-9a-f]{64})$")
_HEX_NAME = re.compile(r"^([0-9a-f]{64})(?:\.json|\.tar)?$")


def _normalise_tag(tag: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
            break
    return tag


def _matches(ref: str, tags: list[str]) -> bool:
    want = _normalise_tag(ref)
    if ":" not in want.rsplit("/", 1)[-1]:
        want += ":latest"
    return any(_normalise_tag(t) == want for t in tags)


def _name_digest(name: str) -> Digest | None:
    """Docker names blobs by their digest (`blobs/sha256/<hex>`, `<hex>.json`); use it to verify."""
    m = _BLOB_NAME.match(name)
    if m:
        return Digest(m.group(1), m.group(2))
    m = _HEX_NAME.match(name.rsplit("/", 1)[-1]) if "/" not in name else None
    if m and name.endswith(".json"):
        return Digest("sha256", m.group(1))
    return None


def open_docker_archive(
    path: Path, ref: str | None, platform: Platform | None, limits: Limits, reference: str,
    archive: ArchiveIndex | None = None,
) -> Image:
    archive = archive or ArchiveIndex(path, limits)
    image = _open_docker_archive(archive, path, ref, platform, limits, reference)
    image.notices += archive_notices(archive)
    return image


def _open_docker_archive(
    archive: ArchiveIndex, path: Path, ref: str | None, platform: Platform | None, limits: Limits, reference: str,
) -> Image:
    where = str(path)
    entries: list[dict[str, Any]] = []
    if "manifest.json" in archive:
        doc = load_json(archive.read_small("manifest.json", "manifest.json", limits), f"{where}: manifest.json", limits)
        if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
            raise MalformedImage(f"{where}: manifest.json: expected a list of objects")
        entries = doc
    if "oci-layout" in archive and "index.json" in archive:
        try:
            image = open_oci_store(
                ArchiveStore(archive, limits), reference=reference, transport="docker-archive", path=where,
                fmt="docker-archive (Docker 25+ OCI layout)", ref=ref, platform=platform, limits=limits,
            )
        except ReferenceError_:
            if ref is None or not entries:
                raise
            # The name may be only in manifest.json's RepoTags: read it the legacy way.
        else:
            tags = [t for e in entries for t in (e.get("RepoTags") or []) if isinstance(t, str)]
            image.names = sorted(set(image.names) | set(tags)) if len(entries) == 1 else image.names
            return image
    if not entries:
        raise MalformedImage(f"{where}: not a docker-archive: no manifest.json")
    return _open_legacy(archive, entries, ref, limits, reference)


def _open_legacy(archive: ArchiveIndex, entries: list[dict[str, Any]], ref: str | None, limits: Limits, reference: str) -> Image:
    where = str(archive.path)

    def tags_of(e: dict[str, Any]) -> list[str]:
        tags = e.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise MalformedImage(f"{where}: manifest.json: RepoTags must be a list of strings")
        return tags

    if ref is not None:
        if ref.startswith("@") and ref[1:].isdigit():
            i = int(ref[1:])
            chosen = [entries[i]] if i < len(entries) else []
        else:
            chosen = [e for e in entries if _matches(ref, tags_of(e))]
        if not chosen:
            listed = sorted(t for e in entries for t in tags_of(e))
            raise ReferenceError_(f"{where}: no image named {ref!r}; available: {', '.join(listed) or '(untagged) @0..@' + str(len(entries) - 1)}")
        entry = chosen[0]
    elif len(entries) == 1:
        entry = entries[0]
    else:
        listed = [", ".join(tags_of(e)) or f"@{i}" for i, e in enumerate(entries)]
        raise ReferenceError_(f"{where}: holds {len(entries)} images; give a reference, one of: {'; '.join(listed)}")

    config_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
        raise MalformedImage(f"{where}: manifest.json: entry needs 'Config' (string) and 'Layers' (list of strings)")
    config_bytes = archive.read_small(config_name, "config", limits)
    config_digest = Digest("sha256", hashlib.sha256(config_bytes).hexdigest())
    named = _name_digest(config_name)
    if named is not None and named != config_digest:
        raise DigestMismatch(f"{where}: config {config_name} digest mismatch: its name says {named}, content is {config_digest}")
    config = ImageConfig.from_json(load_json(config_bytes, f"{where}: config {config_name}", limits), f"{where}: config {config_name}")
    check_layer_count(where, len(layer_names), config, limits)
    history = config.layer_history()
    layers = []
    for i, name in enumerate(layer_names):
        blob = archive.blob(name, f"layer {i}")
        digest = _name_digest(name)
        layers.append(
            LayerRef(i, None, digest, blob.length if digest is not None else None, config.diff_ids[i], blob, history[i])
        )
    return Image(
        reference=reference,
        transport="docker-archive",
        path=where,
        format="docker-archive (legacy docker save)",
        manifest=None,
        manifest_digest=None,
        manifest_bytes=None,
        config=config,
        config_digest=config_digest,
        config_bytes=config_bytes,
        layers=layers,
        limits=limits,
        names=tags_of(entry),
    )
