"""Opening the image a Container names: the one path from a selected entry to a verified
Image (index narrowed by platform, manifest and config read through the verifying reader)."""

from __future__ import annotations

import dataclasses

from ..digest import sha256_digest
from ..errors import DigestMismatch, MalformedImage, ReferenceError_, UnsupportedMediaType
from ..image import Image, LayerRef
from ..mediatypes import DOCKER_V1_MANIFESTS, INDEX_TYPES, MANIFEST_TYPES
from ..model import DockerSaveEntry, ImageConfig, Index, Manifest, Platform
from ..store import Container, ImageEntry, member_digest, name_list
from ..untrusted.documents import read_descriptor
from ..untrusted.jsonload import load_json
from .common import assemble_image, check_layer_count, choose_platform

__all__ = ["image_in"]


def image_in(container: Container, platform: Platform | None = None) -> Image:
    """The image the container's reference names, narrowed to `platform`: index, manifest and
    config read and verified; layers not read yet."""
    if container.transport == "dir":
        image = _open_dir(container, platform)
    else:
        hits = container.select()
        if hits and hits[0].save_entry is not None:
            entry = container.select_one().save_entry
            assert entry is not None
            image = _open_saved(container, entry)
        else:
            image = _open_oci(container, hits, platform)
    if container.notices:
        image = dataclasses.replace(image, notices=image.notices + container.notices)
    return image



def _open_oci(container: Container, hits: tuple[ImageEntry, ...], want: Platform | None) -> Image:
    where = container.store.label
    descs = [e.descriptor for e in hits if e.descriptor is not None]
    cands = [d for d in descs if d.media_type in INDEX_TYPES or d.media_type in MANIFEST_TYPES]
    if not cands:
        if any(d.media_type in DOCKER_V1_MANIFESTS for d in descs):
            raise UnsupportedMediaType(f"{where}: Docker schema 1 manifests are not supported")
        types = sorted({d.media_type for d in descs})
        raise UnsupportedMediaType(f"{where}: index lists no image manifests (media types: {name_list(types) or 'none'})")
    platforms: list[str] = []
    if len({str(d.digest) for d in cands}) > 1:
        distinct = all(d.platform is not None for d in cands) and len({str(d.platform) for d in cands}) == len(cands)
        if not distinct:
            raise ReferenceError_(f"{where}: holds {len(cands)} images; give a reference, one of: "
                                  + ", ".join(e.label for e in hits if e.descriptor in cands))
        chosen, platforms = choose_platform(cands, want, where)
    else:
        chosen = cands[0]
    top = chosen
    names = next(e.names for e in hits if e.descriptor == top)
    if container.transport == "docker-archive" and len(container.save_entries) == 1 and len(container.select(None)) == 1:
        names = tuple(sorted(set(names) | set(container.save_entries[0].repo_tags)))
    depth = 0
    while chosen.media_type in INDEX_TYPES:
        depth += 1
        if depth > 4:
            raise MalformedImage(f"{where}: indexes nested more than 4 deep")
        _, doc = read_descriptor(container.store, chosen, "index", container.limits)
        nested = Index.from_json(doc, f"{where}: index {chosen.digest}")
        subs = [d for d in nested.manifests if d.media_type in MANIFEST_TYPES or d.media_type in INDEX_TYPES]
        if not subs:
            raise UnsupportedMediaType(f"{where}: index {chosen.digest} lists no image manifests")
        chosen, platforms = choose_platform(subs, want, f"{where}: index {chosen.digest}")
    data, doc = read_descriptor(container.store, chosen, "manifest", container.limits)
    manifest = Manifest.from_json(doc, f"{where}: manifest {chosen.digest}")
    if manifest.media_type is not None and manifest.media_type not in MANIFEST_TYPES:
        raise UnsupportedMediaType(f"{where}: manifest {chosen.digest} has media type {manifest.media_type!r}")
    index, index_digest = container.index, sha256_digest(container.index_bytes) if container.index_bytes is not None else None
    if container.transport == "docker":
        # The synthesised index.json is not the image's: report the registry's own index, if any.
        index, index_digest = None, None
        if top.media_type in INDEX_TYPES:
            _, doc = read_descriptor(container.store, top, "index", container.limits)
            index, index_digest = Index.from_json(doc, f"{where}: index"), top.digest
    return assemble_image(
        store=container.store, reference=container.reference, transport=container.transport, path=container.path, fmt=container.format,
        manifest=manifest, manifest_digest=chosen.digest, manifest_bytes=data, limits=container.limits,
        index=index, index_digest=index_digest, platforms=platforms, names=list(names), entry_digest=top.digest,
    )

def _open_dir(container: Container, want: Platform | None) -> Image:
    if container.ref is not None:
        raise ReferenceError_(f"{container.reference}: dir: takes no reference")
    where = container.store.label
    entry = container.entries[0]
    assert entry.descriptor is not None and container.manifest_bytes is not None
    top = entry.descriptor.digest
    if container.index is not None:
        # A dir: copy of a whole list: manifest.json is the index; pick a platform from it.
        image = _open_oci(container, tuple(ImageEntry(i, (), d) for i, d in enumerate(container.index.manifests)), want)
        return dataclasses.replace(image, transport="dir", index_digest=top, entry_digest=top, names=())
    doc = load_json(container.manifest_bytes, f"{where}: manifest.json", container.limits)
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        raise UnsupportedMediaType(f"{where}: manifest.json: Docker schema 1 manifests are not supported")
    manifest = Manifest.from_json(doc, f"{where}: manifest.json")
    return assemble_image(
        store=container.store, reference=container.reference, transport="dir", path=container.path, fmt="dir", manifest=manifest,
        manifest_digest=top, manifest_bytes=container.manifest_bytes, limits=container.limits, entry_digest=top,
    )

def _open_saved(container: Container, entry: DockerSaveEntry) -> Image:
    """A legacy docker save entry: the config is named by its digest; layers by diff_id only."""
    assert container.archive is not None
    where = str(container.archive.path)
    config_bytes = container.archive.read_small(entry.config, "config", container.limits)
    config_digest = sha256_digest(config_bytes)
    named = member_digest(entry.config)
    if named is not None and named != config_digest:
        raise DigestMismatch(f"{where}: config {entry.config} digest mismatch: its name says {named}, content is {config_digest}")
    what = f"{where}: config {entry.config}"
    config = ImageConfig.from_json(load_json(config_bytes, what, container.limits), what)
    check_layer_count(where, len(entry.layers), config, container.limits)
    history = config.layer_history()
    layers = []
    for i, name in enumerate(entry.layers):
        blob = container.archive.blob(name, f"layer {i}")
        digest = member_digest(name, layer=True)
        layers.append(LayerRef(i, None, digest, blob.length if digest is not None else None, config.diff_ids[i], blob, history[i]))
    return Image(
        reference=container.reference, transport="docker-archive", path=where, format="docker-archive (legacy docker save)",
        manifest=None, manifest_digest=None, manifest_bytes=None, config=config, config_digest=config_digest,
        config_bytes=config_bytes, layers=tuple(layers), limits=container.limits, names=entry.repo_tags,
    )


