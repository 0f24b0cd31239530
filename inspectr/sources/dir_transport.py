"""skopeo's `dir:` transport: manifest.json, blobs named by hex, signature-N files."""

from __future__ import annotations

from pathlib import Path

from ..digest import sha256_digest
from ..errors import UnsupportedMediaType
from ..image import Image
from ..limits import Limits
from ..mediatypes import INDEX_TYPES
from ..model import Index, Manifest, Platform
from ..untrusted.jsonload import load_json
from .common import DirStore, assemble_image, select_manifest

__all__ = ["open_dir"]


def open_dir(path: Path, platform: Platform | None, limits: Limits, reference: str) -> Image:
    store = DirStore(path, limits, flat=True)
    where = store.label
    data = store.doc("manifest.json", "manifest.json")
    doc = load_json(data, f"{where}: manifest.json", limits)
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    if media_type in INDEX_TYPES:
        # A dir: copy of a whole list: manifest.json is the index; pick a platform from it.
        index = Index.from_json(doc, f"{where}: manifest.json")
        desc, mbytes, manifest, platforms, names = select_manifest(store, index, None, platform, limits)
        return assemble_image(
            store=store, reference=reference, transport="dir", path=str(path), fmt="dir", manifest=manifest,
            manifest_digest=desc.digest, manifest_bytes=mbytes, limits=limits, index=index,
            index_digest=sha256_digest(data), platforms=platforms,
        )
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        raise UnsupportedMediaType(f"{where}: manifest.json: Docker schema 1 manifests are not supported")
    manifest = Manifest.from_json(doc, f"{where}: manifest.json")
    return assemble_image(
        store=store, reference=reference, transport="dir", path=str(path), fmt="dir", manifest=manifest,
        manifest_digest=sha256_digest(data), manifest_bytes=data, limits=limits,
    )
