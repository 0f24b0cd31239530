"""Container: what a reference opens before any image is chosen: the store, its top-level
index (index.json, dir:'s manifest list) or docker save manifest.json, the images listed with
their names, and the notices from reading it.

Every command selects from a Container with the one name rule below (`select`), so `inspect`,
`ls`, `diff`, `verify`, `gate` and `pull` agree on which image a reference names, and a name
that matches nothing is a ReferenceError everywhere.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..digest import Digest, sha256_digest
from ..errors import DigestMismatch, MalformedImage, ReferenceError_, UnsupportedMediaType
from ..image import Image, LayerRef
from ..limits import Limits
from ..mediatypes import DOCKER_V1_MANIFESTS, INDEX_TYPES, MANIFEST_TYPES
from ..model import Descriptor, DockerSaveEntry, ImageConfig, Index, Manifest, Platform
from ..notice import Notice
from ..untrusted.jsonload import load_json
from .blobs import ArchiveIndex
from .common import CONTAINERD_NAME, REF_NAME, BlobStore, assemble_image, check_layer_count, choose_platform, read_descriptor

__all__ = ["Container", "ImageEntry", "name_matches"]

_DIGEST_REF = re.compile(r"^@?(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_SIGNATURE_TAG = re.compile(r"sha(256|512)-[0-9a-f]+(\.(sig|att|sbom))?")
_BLOB_NAME = re.compile(r"^(?:blobs/)?(sha256)/([0-9a-f]{64})$")
_HEX_NAME = re.compile(r"^([0-9a-f]{64})\.json$")


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """One top-level entry of a container: index.json's descriptor (or dir:'s manifest.json,
    described by its own digest), or a legacy docker save entry, which has no descriptor."""

    position: int
    names: tuple[str, ...]
    descriptor: Descriptor | None
    save_entry: DockerSaveEntry | None = None

    @property
    def is_image(self) -> bool:
        """Not a signature, attestation or referrer artifact that sits in index.json."""
        d = self.descriptor
        if d is None:
            return True
        if d.media_type not in MANIFEST_TYPES and d.media_type not in INDEX_TYPES:
            return False
        kind = d.annotations.get("kind", "")
        if d.artifact_type or (kind.startswith("dev.cosignproject.cosign/")
                               and kind not in ("dev.cosignproject.cosign/image", "dev.cosignproject.cosign/imageIndex")):
            return False
        return not any(_SIGNATURE_TAG.fullmatch(n) for n in self.names)

    @property
    def label(self) -> str:
        return ", ".join(self.names) or f"@{self.position}"


def _short(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _with_tag(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else name + ":latest"


def name_matches(ref: str, names: tuple[str, ...] | list[str]) -> bool:
    """The one name rule. A reference names an image when it equals one of its names, or names
    the same repository and tag once `docker.io/library/` is dropped and a missing tag is read
    as `latest`, or is exactly the tag of a `repo:tag` name. Never a prefix or suffix match: a
    typo names nothing."""
    for name in names:
        if name == ref:
            return True
        if "/" in name or ":" in name:  # a full reference (io.containerd.image.name, RepoTags)
            if _with_tag(_short(name)) == _with_tag(_short(ref)):
                return True
            if "/" not in ref and ":" not in ref and ":" in name.rsplit("/", 1)[-1] and name.rsplit(":", 1)[1] == ref:
                return True
    return False


@dataclass(frozen=True, slots=True)
class Container:
    """An opened layout, archive, dir: copy or registry repository. `ref` is the name part of
    the reference (None when none was given)."""

    reference: str
    transport: str  # oci | oci-archive | docker-archive | dir | docker
    path: str
    format: str
    ref: str | None
    store: BlobStore
    limits: Limits
    index: Index | None = None  # index.json, or a dir: copy's manifest list
    index_bytes: bytes | None = None
    manifest_bytes: bytes | None = None  # a dir: copy of one manifest
    entries: tuple[ImageEntry, ...] = ()
    save_entries: tuple[DockerSaveEntry, ...] = ()  # docker save manifest.json
    archive: ArchiveIndex | None = None
    notices: tuple[Notice, ...] = ()
    problems: tuple[str, ...] = ()  # a registry's answers that were not usable (verify reports them)

    @property
    def names(self) -> list[str]:
        return sorted({n for e in self.entries for n in e.names} | {t for s in self.save_entries for t in s.repo_tags})

    def select(self, ref: str | None = None) -> tuple[ImageEntry, ...]:
        """The entries `ref` names (default: the reference's own). With no name, every image
        entry. Raises ReferenceError_ listing the names that exist when nothing matches."""
        ref = self.ref if ref is None else ref
        entries = self.entries or tuple(_save_entries(self.save_entries))
        if ref is None:
            return tuple(e for e in entries if e.is_image)
        hits = self._match(ref, entries)
        if not hits and self.entries and self.save_entries:
            # Docker 25+ saves: a tag may be only in manifest.json's RepoTags.
            hits = self._match(ref, tuple(_save_entries(self.save_entries)))
        if not hits:
            listed = self.names
            more = {0: "", 1: " (or @0)"}.get(len(entries), f" (or @0..@{len(entries) - 1})")
            raise ReferenceError_(
                f"{self.path}: no image named {ref!r}; available: {', '.join(listed) or '(no names)'}{more}")
        return hits

    @staticmethod
    def _match(ref: str, entries: tuple[ImageEntry, ...]) -> tuple[ImageEntry, ...]:
        if ref.startswith("@") and ref[1:].isdigit():
            i = int(ref[1:])
            return (entries[i],) if i < len(entries) else ()
        m = _DIGEST_REF.match(ref)
        if m:
            return tuple(e for e in entries if e.descriptor is not None and str(e.descriptor.digest) == m.group(1))
        return tuple(e for e in entries if name_matches(ref, e.names))

    def select_one(self, ref: str | None = None) -> ImageEntry:
        """Exactly one entry, or ReferenceError_ naming the choices."""
        hits = self.select(ref)
        distinct = {str(e.descriptor.digest) if e.descriptor else f"@{e.position}" for e in hits}
        if len(distinct) == 1:
            return hits[0]
        if not hits:
            raise ReferenceError_(f"{self.path}: holds no image")
        raise ReferenceError_(
            f"{self.path}: holds {len(distinct)} images; give a reference, one of: "
            + ", ".join(e.label for e in hits))

    def open_image(self, platform: Platform | None = None) -> Image:
        """The image the reference names, narrowed to `platform`: index, manifest and config
        read and verified; layers not read yet."""
        if self.transport == "dir":
            image = self._open_dir(platform)
        else:
            hits = self.select()
            if hits and hits[0].save_entry is not None:
                image = self._open_saved(self.select_one().save_entry)  # type: ignore[arg-type]
            else:
                image = self._open_oci(hits, platform)
        if self.notices:
            image = dataclasses.replace(image, notices=image.notices + self.notices)
        return image

    def _open_oci(self, hits: tuple[ImageEntry, ...], want: Platform | None) -> Image:
        where = self.store.label
        descs = [e.descriptor for e in hits if e.descriptor is not None]
        cands = [d for d in descs if d.media_type in INDEX_TYPES or d.media_type in MANIFEST_TYPES]
        if not cands:
            if any(d.media_type in DOCKER_V1_MANIFESTS for d in descs):
                raise UnsupportedMediaType(f"{where}: Docker schema 1 manifests are not supported")
            types = sorted({d.media_type for d in descs})
            raise UnsupportedMediaType(f"{where}: index lists no image manifests (media types: {', '.join(types) or 'none'})")
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
        if self.transport == "docker-archive" and len(self.save_entries) == 1 and len(self.select(None)) == 1:
            names = tuple(sorted(set(names) | set(self.save_entries[0].repo_tags)))
        depth = 0
        while chosen.media_type in INDEX_TYPES:
            depth += 1
            if depth > 4:
                raise MalformedImage(f"{where}: indexes nested more than 4 deep")
            _, doc = read_descriptor(self.store, chosen, "index", self.limits)
            nested = Index.from_json(doc, f"{where}: index {chosen.digest}")
            subs = [d for d in nested.manifests if d.media_type in MANIFEST_TYPES or d.media_type in INDEX_TYPES]
            if not subs:
                raise UnsupportedMediaType(f"{where}: index {chosen.digest} lists no image manifests")
            chosen, platforms = choose_platform(subs, want, f"{where}: index {chosen.digest}")
        data, doc = read_descriptor(self.store, chosen, "manifest", self.limits)
        manifest = Manifest.from_json(doc, f"{where}: manifest {chosen.digest}")
        if manifest.media_type is not None and manifest.media_type not in MANIFEST_TYPES:
            raise UnsupportedMediaType(f"{where}: manifest {chosen.digest} has media type {manifest.media_type!r}")
        index, index_digest = self.index, sha256_digest(self.index_bytes) if self.index_bytes is not None else None
        if self.transport == "docker":
            # The synthesised index.json is not the image's: report the registry's own index, if any.
            index, index_digest = None, None
            if top.media_type in INDEX_TYPES:
                _, doc = read_descriptor(self.store, top, "index", self.limits)
                index, index_digest = Index.from_json(doc, f"{where}: index"), top.digest
        return assemble_image(
            store=self.store, reference=self.reference, transport=self.transport, path=self.path, fmt=self.format,
            manifest=manifest, manifest_digest=chosen.digest, manifest_bytes=data, limits=self.limits,
            index=index, index_digest=index_digest, platforms=platforms, names=list(names), entry_digest=top.digest,
        )

    def _open_dir(self, want: Platform | None) -> Image:
        if self.ref is not None:
            raise ReferenceError_(f"{self.reference}: dir: takes no reference")
        where = self.store.label
        entry = self.entries[0]
        assert entry.descriptor is not None and self.manifest_bytes is not None
        top = entry.descriptor.digest
        if self.index is not None:
            # A dir: copy of a whole list: manifest.json is the index; pick a platform from it.
            image = self._open_oci(tuple(ImageEntry(i, (), d) for i, d in enumerate(self.index.manifests)), want)
            return dataclasses.replace(image, transport="dir", index_digest=top, entry_digest=top, names=())
        doc = load_json(self.manifest_bytes, f"{where}: manifest.json", self.limits)
        if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
            raise UnsupportedMediaType(f"{where}: manifest.json: Docker schema 1 manifests are not supported")
        manifest = Manifest.from_json(doc, f"{where}: manifest.json")
        return assemble_image(
            store=self.store, reference=self.reference, transport="dir", path=self.path, fmt="dir", manifest=manifest,
            manifest_digest=top, manifest_bytes=self.manifest_bytes, limits=self.limits, entry_digest=top,
        )

    def _open_saved(self, entry: DockerSaveEntry) -> Image:
        """A legacy docker save entry: the config is named by its digest; layers by diff_id only."""
        assert self.archive is not None
        where = str(self.archive.path)
        config_bytes = self.archive.read_small(entry.config, "config", self.limits)
        config_digest = sha256_digest(config_bytes)
        named = member_digest(entry.config)
        if named is not None and named != config_digest:
            raise DigestMismatch(f"{where}: config {entry.config} digest mismatch: its name says {named}, content is {config_digest}")
        what = f"{where}: config {entry.config}"
        config = ImageConfig.from_json(load_json(config_bytes, what, self.limits), what)
        check_layer_count(where, len(entry.layers), config, self.limits)
        history = config.layer_history()
        layers = []
        for i, name in enumerate(entry.layers):
            blob = self.archive.blob(name, f"layer {i}")
            digest = member_digest(name, layer=True)
            layers.append(LayerRef(i, None, digest, blob.length if digest is not None else None, config.diff_ids[i], blob, history[i]))
        return Image(
            reference=self.reference, transport="docker-archive", path=where, format="docker-archive (legacy docker save)",
            manifest=None, manifest_digest=None, manifest_bytes=None, config=config, config_digest=config_digest,
            config_bytes=config_bytes, layers=tuple(layers), limits=self.limits, names=entry.repo_tags,
        )


def member_digest(name: str, layer: bool = False) -> Digest | None:
    """Docker names blobs by their digest (`blobs/sha256/<hex>`; configs `<hex>.json`)."""
    m = _BLOB_NAME.match(name)
    if m:
        return Digest(m.group(1), m.group(2))
    m = _HEX_NAME.match(name) if not layer else None
    return Digest("sha256", m.group(1)) if m else None


def _save_entries(entries: tuple[DockerSaveEntry, ...]) -> list[ImageEntry]:
    return [ImageEntry(e.position, e.repo_tags, None, e) for e in entries]


def entry_names(desc: Descriptor) -> tuple[str, ...]:
    return tuple(v for k, v in sorted(desc.annotations.items()) if k in (REF_NAME, CONTAINERD_NAME))
