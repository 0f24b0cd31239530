"""Small documents from a blob store (index, manifest, config, payloads): read whole through
the one verifying reader (exact size, then digest), then parsed as bounded JSON."""

from __future__ import annotations

from typing import Any

from ..digest import read_verified
from ..errors import SizeMismatch
from ..limits import Limits
from ..model import Descriptor
from ..store import BlobStore
from .jsonload import load_json

__all__ = ["read_blob", "read_descriptor"]


def read_descriptor(store: BlobStore, desc: Descriptor, what: str, limits: Limits) -> tuple[bytes, Any]:
    """Read a small blob (index, manifest, config) through the verifying reader, parse JSON."""
    data = read_blob(store, desc, what, limits)
    return data, load_json(data, f"{store.label}: {what} {desc.digest}", limits)


def read_blob(store: BlobStore, desc: Descriptor, what: str, limits: Limits, max_bytes: int | None = None) -> bytes:
    """All bytes of a small blob, checked for exact size and digest (the one verifying read)."""
    label = f"{store.label}: {what} {desc.digest}"
    blob = store.blob(desc.digest, what)
    if blob.length != desc.size:
        raise SizeMismatch(f"{label}: size mismatch: descriptor says {desc.size} bytes, blob has {blob.length}",
                           hint="the archive is corrupt or was modified after it was written")
    return read_verified(blob.open(), desc.digest, desc.size, label, limits.max_json_bytes if max_bytes is None else max_bytes)


