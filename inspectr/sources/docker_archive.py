"""`docker save` archives: the legacy form (manifest.json, <id>/layer.tar) and the Docker 25+
form, which is an OCI layout inside the tar plus the legacy manifest.json."""

from __future__ import annotations

from ..errors import MalformedImage
from ..limits import Limits
from ..model import DockerSaveEntry
from ..untrusted.jsonload import load_json
from .blobs import ArchiveIndex
from .common import ArchiveStore
from ..store import Container
from .oci_layout import archive_notices, layout_container

__all__ = ["docker_archive_container"]


def docker_archive_container(archive: ArchiveIndex, *, reference: str, ref: str | None, limits: Limits) -> Container:
    where = str(archive.path)
    store = ArchiveStore(archive, limits)
    saved: tuple[DockerSaveEntry, ...] = ()
    if "manifest.json" in archive:
        doc = load_json(archive.read_small("manifest.json", "manifest.json", limits), f"{where}: manifest.json", limits)
        saved = DockerSaveEntry.parse_list(doc, f"{where}: manifest.json")
    if "oci-layout" in archive and "index.json" in archive:
        return layout_container(store, reference=reference, transport="docker-archive", path=where,
                                fmt="docker-archive (Docker 25+ OCI layout)", ref=ref, limits=limits,
                                archive=archive, save_entries=saved)
    if not saved:
        raise MalformedImage(f"{where}: not a docker-archive: manifest.json lists no image")
    return Container(reference=reference, transport="docker-archive", path=where,
                     format="docker-archive (legacy docker save)", ref=ref, store=store, limits=limits,
                     save_entries=saved, archive=archive, notices=archive_notices(archive))
