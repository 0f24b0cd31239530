"""OCI image layouts: a directory (`oci:DIR[:REF]`) or a tar of one (`oci-archive:PATH[:REF]`)."""

from __future__ import annotations

from ..errors import MalformedImage
from ..limits import Limits
from ..model import DockerSaveEntry, Index
from ..notice import Notice
from ..untrusted.jsonload import load_json
from .blobs import ArchiveIndex
from ..store import BlobStore, Container, ImageEntry, entry_names

__all__ = ["layout_container", "archive_notices"]


def layout_container(
    store: BlobStore,
    *,
    reference: str,
    transport: str,
    path: str,
    fmt: str,
    ref: str | None,
    limits: Limits,
    archive: ArchiveIndex | None = None,
    save_entries: tuple[DockerSaveEntry, ...] = (),
    problems: tuple[str, ...] = (),
) -> Container:
    """A layout's oci-layout and index.json, read and checked; no manifest is read yet."""
    where = store.label
    layout = load_json(store.doc("oci-layout", "oci-layout file"), f"{where}: oci-layout", limits)
    if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
        raise MalformedImage(f"{where}: oci-layout: missing imageLayoutVersion")
    index_bytes = store.doc("index.json", "index.json")
    index = Index.from_json(load_json(index_bytes, f"{where}: index.json", limits), f"{where}: index.json")
    entries = tuple(ImageEntry(i, entry_names(d), d) for i, d in enumerate(index.manifests))
    return Container(
        reference=reference, transport=transport, path=path, format=fmt, ref=ref, store=store, limits=limits,
        index=index, index_bytes=index_bytes, entries=entries, save_entries=save_entries, archive=archive,
        notices=archive_notices(archive) if archive is not None else (), problems=problems,
    )


def archive_notices(archive: ArchiveIndex) -> tuple[Notice, ...]:
    """Warnings from walking the outer archive (e.g. no end marker), kept for the report."""
    return tuple(Notice("outer-archive", str(archive.path), None, message) for message in archive.notes)
