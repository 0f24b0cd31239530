"""OCI image layouts: a directory (`oci:DIR[:REF]`) or a tar of one (`oci-archive:PATH[:REF]`)."""

from __future__ import annotations

from pathlib import Path

from ..digest import sha256_digest
from ..errors import MalformedImage
from ..fs.entry import Notice
from ..image import Image
from ..limits import Limits
from ..model import Index, Platform
from ..untrusted.jsonload import load_json
from .blobs import ArchiveIndex
from .common import ArchiveStore, BlobStore, DirStore, assemble_image, select_manifest

__all__ = ["open_oci_dir", "open_oci_archive", "open_oci_store", "archive_notices"]


def open_oci_store(
    store: BlobStore,
    *,
    reference: str,
    transport: str,
    path: str,
    fmt: str,
    ref: str | None,
    platform: Platform | None,
    limits: Limits,
    extra_names: dict[str, list[str]] | None = None,
) -> Image:
    """Resolve `ref`/`platform` in a layout's index.json and read the image it names."""
    where = store.label
    layout = load_json(store.doc("oci-layout", "oci-layout file"), f"{where}: oci-layout", limits)
    if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
        raise MalformedImage(f"{where}: oci-layout: missing imageLayoutVersion")
    index_bytes = store.doc("index.json", "index.json")
    index = Index.from_json(load_json(index_bytes, f"{where}: index.json", limits), f"{where}: index.json")
    desc, manifest_bytes, manifest, platforms, names = select_manifest(store, index, ref, platform, limits, extra_names)
    return assemble_image(
        store=store,
        reference=reference,
        transport=transport,
        path=path,
        fmt=fmt,
        manifest=manifest,
        manifest_digest=desc.digest,
        manifest_bytes=manifest_bytes,
        limits=limits,
        index=index,
        index_digest=sha256_digest(index_bytes),
        platforms=platforms,
        names=names,
    )


def open_oci_dir(path: Path, ref: str | None, platform: Platform | None, limits: Limits, reference: str) -> Image:
    return open_oci_store(
        DirStore(path, limits), reference=reference, transport="oci", path=str(path), fmt="oci-layout",
        ref=ref, platform=platform, limits=limits,
    )


def open_oci_archive(
    path: Path, ref: str | None, platform: Platform | None, limits: Limits, reference: str,
    archive: ArchiveIndex | None = None,
) -> Image:
    archive = archive or ArchiveIndex(path, limits)
    image = open_oci_store(
        ArchiveStore(archive, limits), reference=reference, transport="oci-archive", path=str(path),
        fmt="oci-archive", ref=ref, platform=platform, limits=limits,
    )
    image.notices += archive_notices(archive)
    return image


def archive_notices(archive: ArchiveIndex) -> list[Notice]:
    """Warnings from walking the outer archive (e.g. no end marker), kept for the report."""
    return [Notice("outer-archive", str(archive.path), None, message) for message in archive.notes]
