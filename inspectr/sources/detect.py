"""Image references (containers-transports style) and format detection for bare paths."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

from ..errors import ImageNotFound, MalformedImage, ReadError, ReferenceError_, UsageError
from ..image import Image
from ..limits import Limits
from ..model import Platform
from ..session import Session
from .blobs import ArchiveIndex
from .common import ArchiveStore, DirStore
from ..store import Container
from .container import image_in
from .dir_transport import dir_container
from .docker_archive import docker_archive_container
from .oci_layout import layout_container

__all__ = ["open_image", "open_container", "parse_reference"]

TRANSPORTS = ("docker-archive", "oci-archive", "oci", "dir")


def _split_path_ref(rest: str) -> tuple[str, str | None]:
    """`PATH[:REF]`: the longest prefix that exists on disk is the path (paths may hold ':')."""
    if os.path.lexists(rest):
        return rest, None
    i = len(rest)
    while True:
        i = rest.rfind(":", 0, i)
        if i <= 0:
            return rest, None
        if os.path.lexists(rest[:i]):
            return rest[:i], rest[i + 1 :] or None


def parse_reference(reference: str) -> tuple[str | None, str, str | None]:
    """(transport or None for auto-detect, path, ref)."""
    if reference.startswith("docker://"):
        return "docker", reference, None
    for transport in TRANSPORTS:
        if reference.startswith(transport + ":"):
            path, ref = _split_path_ref(reference[len(transport) + 1 :])
            return transport, path, ref
    return None, reference, None


def _sniff_tar(path: Path, limits: Limits) -> tuple[str, ArchiveIndex]:
    try:
        with open(path, "rb") as fp:
            head = fp.read(512)
    except OSError as err:
        raise ReadError(f"{path}: cannot read: {err.strerror or err}") from None
    if head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd":
        raise MalformedImage(f"{path}: compressed archive; decompress it first (e.g. gunzip), then inspect the .tar")
    if len(head) < 512 or head[257:262] != b"ustar":
        raise ImageNotFound(f"{path}: not a tar archive, OCI layout or dir: image")
    archive = ArchiveIndex(path, limits)
    if "manifest.json" in archive:
        return "docker-archive", archive
    if "oci-layout" in archive and "index.json" in archive:
        return "oci-archive", archive
    raise ImageNotFound(f"{path}: tar archive holds neither manifest.json (docker-archive) nor oci-layout + index.json (oci-archive)")


def open_image(reference: str | os.PathLike[str] | Container, platform: str | Platform | None = None,
               limits: Limits | None = None, *, session: Session | None = None) -> Image:
    """Open an image by reference or path: `image_in(open_container(...), platform)`. Reads and
    verifies index, manifest and config; layers are read later (build_tree). `limits`, when
    given, replaces the session's. Raises InspectrError subclasses (ReferenceError_ when the
    reference names no image)."""
    session = _session(session, limits)
    container = reference if isinstance(reference, Container) else open_container(reference, session=session)
    reference = container.reference
    try:
        want = Platform.parse(platform) if isinstance(platform, str) else platform
    except MalformedImage:
        raise UsageError(f"--platform {platform!r}: expected os/arch[/variant], e.g. linux/arm64/v8") from None
    image = image_in(container, want)
    if want is not None and want.os != "*":
        got = Platform(image.config.os, image.config.architecture, image.config.variant)
        if not got.matches(want) and not image.platforms:
            raise ReferenceError_(f"{reference}: the image is {got or 'of unknown platform'}, not {want}")
    return image


def _session(session: Session | None, limits: Limits | None) -> Session:
    if session is None:
        return Session(limits=limits or Limits())
    return session if limits is None else dataclasses.replace(session, limits=limits)


def open_container(reference: str | os.PathLike[str], limits: Limits | None = None, *, session: Session | None = None,
                   attachments: bool = False) -> Container:
    """Detect the format and open the container a reference points into; no image is chosen
    yet. `attachments`: for a registry, also list signature, attestation and referrer manifests."""
    reference = os.fspath(reference)
    session = _session(session, limits)
    limits = session.limits
    transport, raw_path, ref = parse_reference(reference)
    if transport == "docker":
        from .registry import registry_container  # urllib3 is imported only for registry references

        return registry_container(reference, limits, session.registry, attachments=attachments)
    path = Path(raw_path)
    if not os.path.lexists(path):
        raise ImageNotFound(f"{raw_path}: no such file or directory")
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise ImageNotFound(f"{raw_path}: cannot read: {err.strerror}") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        # A FIFO or device would block or never end: an image is a directory or a regular file.
        raise ImageNotFound(f"{raw_path}: not a regular file or directory")
    if transport is None:
        if path.is_dir():
            if (path / "oci-layout").is_file():
                transport = "oci"
            elif (path / "manifest.json").is_file():
                transport = "dir"
            else:
                raise ImageNotFound(f"{raw_path}: directory is neither an OCI layout (oci-layout) nor a dir: image (manifest.json)")
        else:
            transport, archive = _sniff_tar(path, limits)
            if transport == "docker-archive":
                return docker_archive_container(archive, reference=reference, ref=None, limits=limits)
            return layout_container(ArchiveStore(archive, limits), reference=reference, transport="oci-archive",
                                    path=str(path), fmt="oci-archive", ref=None, limits=limits, archive=archive)
    match transport:
        case "oci":
            if not path.is_dir():
                raise ImageNotFound(f"{raw_path}: oci: needs a layout directory")
            return layout_container(DirStore(path, limits), reference=reference, transport="oci", path=str(path),
                                    fmt="oci-layout", ref=ref, limits=limits)
        case "dir":
            if not path.is_dir():
                raise ImageNotFound(f"{raw_path}: dir: needs a directory")
            if ref is not None:
                raise UsageError(f"{reference}: dir: takes no reference")
            return dir_container(path, reference=reference, ref=None, limits=limits)
        case "oci-archive":
            if not path.is_file():
                raise ImageNotFound(f"{raw_path}: oci-archive: needs a tar file")
            archive = ArchiveIndex(path, limits)
            return layout_container(ArchiveStore(archive, limits), reference=reference, transport="oci-archive",
                                    path=str(path), fmt="oci-archive", ref=ref, limits=limits, archive=archive)
        case "docker-archive":
            if not path.is_file():
                raise ImageNotFound(f"{raw_path}: docker-archive: needs a tar file")
            return docker_archive_container(ArchiveIndex(path, limits), reference=reference, ref=ref, limits=limits)
    raise UsageError(f"{reference}: unknown transport")
