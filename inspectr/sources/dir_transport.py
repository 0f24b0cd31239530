"""skopeo's `dir:` transport: manifest.json, blobs named by hex, signature-N files."""

from __future__ import annotations

from pathlib import Path

from ..digest import sha256_digest
from ..limits import Limits
from ..mediatypes import INDEX_TYPES, OCI_MANIFEST
from ..model import Descriptor, Index
from ..untrusted.jsonload import load_json
from .common import DirStore
from ..store import Container, ImageEntry

__all__ = ["dir_container"]


def dir_container(path: Path, *, reference: str, ref: str | None, limits: Limits) -> Container:
    """A dir: copy is one image: manifest.json (a manifest, or a list) described by its digest."""
    store = DirStore(path, limits, flat=True)
    data = store.doc("manifest.json", "manifest.json")
    doc = load_json(data, f"{store.label}: manifest.json", limits)
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    index = Index.from_json(doc, f"{store.label}: manifest.json") if media_type in INDEX_TYPES else None
    top = Descriptor(media_type if isinstance(media_type, str) else OCI_MANIFEST, sha256_digest(data), len(data))
    return Container(reference=reference, transport="dir", path=str(path), format="dir", ref=ref, store=store,
                     limits=limits, index=index, manifest_bytes=data, entries=(ImageEntry(0, (), top),))
