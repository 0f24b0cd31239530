"""The integrity chain, with no trust input: every descriptor's size then digest, index →
manifests → configs → layers (streamed: digest, size, diff_id, tar structure), Docker 25+
manifest.json against index.json, and blobs that nothing references or that are missing.

Unlike `open_image`, the walk does not stop at the first failure: every check is reported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..digest import Digest
from ..errors import InspectrError
from ..fs.layer_index import index_layer
from ..image import LayerRef
from ..limits import Limits
from ..mediatypes import CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, layer_compression
from ..model import Descriptor, ImageConfig, Index, Manifest
from ..sources.blobs import ArchiveIndex, FileSlice
from ..sources.common import ArchiveStore, BlobStore, DirStore
from ..sources.detect import parse_reference
from ..untrusted.jsonload import load_json
from .report import Check, Status

if TYPE_CHECKING:
    from ..sources.registry import RegistryStore

__all__ = ["IntegrityResult", "check_integrity"]


@dataclass(slots=True)
class IntegrityResult:
    """Checks, plus what the signature step needs: the layout's store and manifest digests."""

    format: str
    checks: list[Check] = field(default_factory=list)
    manifest_digests: list[str] = field(default_factory=list)  # every image manifest/index reached
    manifests: dict[str, bytes] = field(default_factory=dict)  # digest -> verified bytes
    # Each top-level image: (names, digests of it and of everything below it). Signatures are
    # matched against one image's digests only, never against any manifest in the layout.
    images: list[tuple[list[str], list[str]]] = field(default_factory=list)
    index: Index | None = None
    store: BlobStore | None = None
    path: Path | None = None
    transport: str = ""

    def add(self, check: str, subject: str, status: Status, message: str, error: str | None = None) -> None:
        self.checks.append(Check(check, subject, status, message, error))


def _fail(result: IntegrityResult, check: str, subject: str, err: InspectrError) -> None:
    result.add(check, subject, Status.FAIL, err.message, err.error_class)


class _Walker:
    def __init__(self, result: IntegrityResult, store: BlobStore, limits: Limits, skip_blobs: bool = False) -> None:
        self.r = result
        self.store = store
        self.limits = limits
        self.skip_blobs = skip_blobs  # --skip-blob-checks: only indexes and manifests are verified
        self.referenced: set[str] = set()

    def blob(self, desc: Descriptor, kind: str, subject: str) -> FileSlice | None:
        """Size then digest of one blob; None when it cannot be trusted."""
        d = desc.digest
        self.referenced.add(str(d))
        if self.skip_blobs and kind in ("config", "layer", "blob"):
            self.r.add(f"{kind}-digest", subject, Status.SKIP, "not checked (--skip-blob-checks)")
            return None
        if not d.verifiable:
            self.r.add(f"{kind}-digest", subject, Status.UNVERIFIABLE,
                       f"digest algorithm {d.algorithm!r} cannot be verified", "unverifiable-digest-algorithm")
            return None
        if desc.data is not None:
            try:
                embedded = base64.b64decode(desc.data, validate=True)
            except (binascii.Error, ValueError):
                self.r.add(f"{kind}-data", subject, Status.FAIL, "descriptor data is not valid base64", "malformed-image")
            else:
                ok = len(embedded) == desc.size and hashlib.new(d.algorithm, embedded).hexdigest() == d.encoded
                self.r.add(f"{kind}-data", subject, Status.PASS if ok else Status.FAIL,
                           "embedded data matches size and digest" if ok else "embedded data does not match the descriptor",
                           None if ok else "digest-mismatch")
        try:
            blob = self.store.blob(d, kind)
        except InspectrError as err:
            _fail(self.r, f"{kind}-present", subject, err)
            return None
        if blob.length != desc.size:
            self.r.add(f"{kind}-size", subject, Status.FAIL,
                       f"descriptor says {desc.size} bytes, blob has {blob.length}", "size-mismatch")
            return None
        self.r.add(f"{kind}-size", subject, Status.PASS, f"{desc.size} bytes")
        if kind == "layer":
            return blob  # layers are hashed while streaming, with their diff_id
        h = hashlib.new(d.algorithm)
        with blob.open() as fp:
            while chunk := fp.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != d.encoded:
            self.r.add(f"{kind}-digest", subject, Status.FAIL,
                       f"expected {d}, got {d.algorithm}:{h.hexdigest()}", "digest-mismatch")
            return None
        self.r.add(f"{kind}-digest", subject, Status.PASS, str(d))
        return blob

    def json_blob(self, desc: Descriptor, kind: str, subject: str) -> tuple[bytes, Any] | None:
        blob = self.blob(desc, kind, subject)
        if blob is None:
            return None
        if blob.length > self.limits.max_json_bytes:
            self.r.add(f"{kind}-parse", subject, Status.FAIL, "larger than max_json_bytes", "size-limit-exceeded")
            return None
        with blob.open() as fp:
            data = fp.read()
        try:
            return data, load_json(data, subject, self.limits)
        except InspectrError as err:
            _fail(self.r, f"{kind}-parse", subject, err)
            return None

    def descriptor(self, desc: Descriptor, subject: str, depth: int = 0) -> None:
        if desc.media_type in INDEX_TYPES:
            got = self.json_blob(desc, "index", subject)
            if got is None:
                return
            self.r.manifest_digests.append(str(desc.digest))
            self.r.manifests[str(desc.digest)] = got[0]
            try:
                index = Index.from_json(got[1], subject)
            except InspectrError as err:
                _fail(self.r, "index-parse", subject, err)
                return
            if depth > 4:
                self.r.add("index-depth", subject, Status.FAIL, "indexes nested more than 4 deep", "malformed-image")
                return
            for i, child in enumerate(index.manifests):
                self.descriptor(child, f"{subject} → manifests[{i}] {child.digest}", depth + 1)
        elif desc.media_type in MANIFEST_TYPES:
            got = self.json_blob(desc, "manifest", subject)
            if got is None:
                return
            self.r.manifest_digests.append(str(desc.digest))
            self.r.manifests[str(desc.digest)] = got[0]
            try:
                manifest = Manifest.from_json(got[1], subject)
            except InspectrError as err:
                _fail(self.r, "manifest-parse", subject, err)
                return
            self.manifest(manifest, subject)
        else:
            # Artifacts, attestations, unknown types: their bytes are still checked.
            self.referenced.add(str(desc.digest))
            self.blob(desc, "blob", f"{subject} ({desc.media_type})")

    def manifest(self, manifest: Manifest, subject: str) -> None:
        cfg_subject = f"{subject} → config {manifest.config.digest}"
        is_image = manifest.config.media_type in CONFIG_TYPES and all(_known_layer(l.media_type) for l in manifest.layers)
        got = self.json_blob(manifest.config, "config", cfg_subject)
        config: ImageConfig | None = None
        if got is not None and is_image:
            try:
                config = ImageConfig.from_json(got[1], cfg_subject)
            except InspectrError as err:
                _fail(self.r, "config-parse", cfg_subject, err)
        if config is not None and len(config.diff_ids) != len(manifest.layers):
            self.r.add("diffid-count", subject, Status.FAIL,
                       f"manifest has {len(manifest.layers)} layers, config lists {len(config.diff_ids)} diff_ids", "diffid-mismatch")
            config = None
        for i, desc in enumerate(manifest.layers):
            lsub = f"{subject} → layers[{i}] {desc.digest}"
            if not is_image:
                self.blob(desc, "blob", f"{lsub} ({desc.media_type})")
                continue
            self.layer(desc, config.diff_ids[i] if config is not None else None, i, lsub)

    def layer(self, desc: Descriptor, diff_id: Digest | None, i: int, subject: str) -> None:
        blob = self.blob(desc, "layer", subject)
        if blob is None:
            return
        ref = LayerRef(i, desc.media_type, desc.digest, desc.size, diff_id, blob)
        try:
            index = index_layer(ref, i, self.limits)
        except InspectrError as err:
            check = {"digest-mismatch": "layer-digest", "size-mismatch": "layer-size",
                     "diffid-mismatch": "layer-diffid"}.get(err.error_class, "layer-content")
            _fail(self.r, check, subject, err)
            return
        self.r.add("layer-digest", subject, Status.PASS, str(desc.digest))
        if diff_id is not None:
            self.r.add("layer-diffid", subject, Status.PASS, f"{diff_id} ({index.compression}, {len(index.entries)} entries)")
        for notice in index.notices:
            self.r.add("layer-content", subject, Status.WARN, notice.message, notice.code)

    def unreferenced(self, present: set[str]) -> None:
        for digest in sorted(present - self.referenced):
            self.r.add("blob-referenced", digest, Status.WARN, "blob is in the layout but nothing references it", "unreferenced-blob")


def _is_image_descriptor(desc: Descriptor, names: list[str]) -> bool:
    """Not a signature, attestation or referrer artifact that happens to sit in index.json."""
    if desc.media_type not in MANIFEST_TYPES and desc.media_type not in INDEX_TYPES:
        return False
    if desc.artifact_type or desc.annotations.get("kind", "").startswith("dev.cosignproject.cosign/") and \
            desc.annotations.get("kind") not in ("dev.cosignproject.cosign/image", "dev.cosignproject.cosign/imageIndex"):
        return False
    return not any(re.fullmatch(r"sha(256|512)-[0-9a-f]+(\.(sig|att|sbom))?", n) for n in names)


def _known_layer(media_type: str) -> bool:
    try:
        layer_compression(media_type)
        return True
    except KeyError:
        return False


def _oci(result: IntegrityResult, store: "DirStore | ArchiveStore | RegistryStore", limits: Limits, skip_blobs: bool) -> _Walker | None:
    walker = _Walker(result, store, limits, skip_blobs)
    try:
        layout = load_json(store.doc("oci-layout", "oci-layout"), "oci-layout", limits)
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        result.add("layout-version", "oci-layout", Status.PASS if isinstance(version, str) else Status.FAIL,
                   f"imageLayoutVersion {version!r}", None if isinstance(version, str) else "malformed-image")
        index = Index.from_json(load_json(store.doc("index.json", "index.json"), "index.json", limits), "index.json")
    except InspectrError as err:
        _fail(result, "index-parse", "index.json", err)
        return None
    result.index = index
    for i, desc in enumerate(index.manifests):
        name = desc.annotations.get("org.opencontainers.image.ref.name") or desc.annotations.get("io.containerd.image.name")
        before = len(result.manifest_digests)
        walker.descriptor(desc, f"index.json manifests[{i}]" + (f" ({name})" if name else ""))
        names = [v for k, v in desc.annotations.items() if k in ("org.opencontainers.image.ref.name", "io.containerd.image.name")]
        if _is_image_descriptor(desc, names):
            result.images.append((names, [str(desc.digest)] + result.manifest_digests[before + 1 :]))
    if not skip_blobs:
        walker.unreferenced(store.list_blobs())
    return walker


def _docker_manifest_json(result: IntegrityResult, archive: ArchiveIndex, limits: Limits, oci: bool) -> None:
    """Legacy manifest.json entries: Config named by its digest, diff_ids per layer; in a
    Docker 25+ save, each entry must also match a manifest that index.json reaches."""
    try:
        entries = load_json(archive.read_small("manifest.json", "manifest.json", limits), "manifest.json", limits)
    except InspectrError as err:
        _fail(result, "docker-manifest-json", "manifest.json", err)
        return
    if not isinstance(entries, list):
        result.add("docker-manifest-json", "manifest.json", Status.FAIL, "expected a list", "malformed-image")
        return
    store = ArchiveStore(archive, limits)
    reached: dict[str, list[str]] = {}
    if oci:
        for digest, data in result.manifests.items():
            try:
                m = Manifest.from_json(load_json(data, digest, limits), digest)
            except InspectrError:
                continue
            reached[str(m.config.digest)] = [str(l.digest) for l in m.layers]
    for i, entry in enumerate(entries):
        subject = f"manifest.json[{i}] {', '.join(entry.get('RepoTags') or []) if isinstance(entry, dict) else ''}".strip()
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) or not isinstance(entry.get("Layers"), list):
            result.add("docker-manifest-json", subject, Status.FAIL, "entry needs Config and Layers", "malformed-image")
            continue
        try:
            config_bytes = archive.read_small(entry["Config"], "config", limits)
        except InspectrError as err:
            _fail(result, "config-present", subject, err)
            continue
        config_digest = f"sha256:{hashlib.sha256(config_bytes).hexdigest()}"
        named = os.path.basename(entry["Config"]).removesuffix(".json")
        if len(named) == 64:
            ok = config_digest == f"sha256:{named}"
            result.add("config-digest", f"{subject} Config {entry['Config']}", Status.PASS if ok else Status.FAIL,
                       config_digest if ok else f"name says sha256:{named}, content is {config_digest}",
                       None if ok else "digest-mismatch")
        if oci:
            layers = [f"sha256:{os.path.basename(n)}" for n in entry["Layers"] if isinstance(n, str)]
            match = reached.get(config_digest)
            ok = match is not None and match == layers
            result.add("docker-manifest-json", subject, Status.PASS if ok else Status.FAIL,
                       "matches a manifest in index.json" if ok else "config/layers match no manifest that index.json reaches",
                       None if ok else "manifest-mismatch")
            continue  # the OCI walk verified the blobs themselves
        try:
            config = ImageConfig.from_json(load_json(config_bytes, subject, limits), subject)
        except InspectrError as err:
            _fail(result, "config-parse", subject, err)
            continue
        if len(config.diff_ids) != len(entry["Layers"]):
            result.add("diffid-count", subject, Status.FAIL,
                       f"{len(entry['Layers'])} layers, config lists {len(config.diff_ids)} diff_ids", "diffid-mismatch")
            continue
        walker = _Walker(result, store, limits)
        for j, name in enumerate(entry["Layers"]):
            lsub = f"{subject} → {name}"
            try:
                blob = archive.blob(name, f"layer {j}")
            except InspectrError as err:
                _fail(result, "layer-present", lsub, err)
                continue
            ref = LayerRef(j, None, None, None, config.diff_ids[j], blob)
            try:
                index = index_layer(ref, j, limits)
            except InspectrError as err:
                _fail(result, "layer-diffid" if err.error_class == "diffid-mismatch" else "layer-content", lsub, err)
                continue
            result.add("layer-diffid", lsub, Status.PASS, f"{config.diff_ids[j]} ({len(index.entries)} entries)")
        del walker


def _dir(result: IntegrityResult, path: Path, limits: Limits, skip_blobs: bool) -> None:
    store = DirStore(path, limits, flat=True)
    walker = _Walker(result, store, limits, skip_blobs)
    try:
        data = store.doc("manifest.json", "manifest.json")
        doc = load_json(data, "manifest.json", limits)
    except InspectrError as err:
        _fail(result, "manifest-parse", "manifest.json", err)
        return
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    walker.referenced.add(digest)
    result.manifest_digests.append(digest)
    result.images.append(([], result.manifest_digests))  # the same list: children are appended below
    result.manifests[digest] = data
    result.add("manifest-digest", "manifest.json", Status.INFO, f"{digest} (computed: dir: stores no manifest digest)")
    media_type = doc.get("mediaType") if isinstance(doc, dict) else None
    try:
        if media_type in INDEX_TYPES:
            index = Index.from_json(doc, "manifest.json")
            for i, desc in enumerate(index.manifests):
                walker.descriptor(desc, f"manifest.json manifests[{i}]")
        else:
            walker.manifest(Manifest.from_json(doc, "manifest.json"), "manifest.json")
    except InspectrError as err:
        _fail(result, "manifest-parse", "manifest.json", err)
    if not skip_blobs:
        walker.unreferenced(store.list_blobs())


def _registry(reference: str, limits: Limits, skip_blobs: bool) -> IntegrityResult:
    """A registry image, walked like a layout: the synthesised index.json lists the image and
    its signature, attestation and referrer manifests (sources/registry.py)."""
    from ..sources.registry import open_registry_store

    store = open_registry_store(reference, limits, attachments=True)
    result = IntegrityResult(format="registry", transport="docker", store=store)
    result.add("manifest-digest", str(store.ref), Status.PASS,
               f"{store.top_digest} (recomputed; matches the requested digest and Docker-Content-Digest)")
    _oci(result, store, limits, skip_blobs)
    for problem in store.problems:
        result.add("registry", str(store.ref), Status.WARN, problem, "registry-error")
    return result


def check_integrity(reference: str, limits: Limits = Limits(), skip_blobs: bool = False) -> IntegrityResult:
    """Every integrity check of the layout or archive at `reference` (any ref is ignored: the
    whole container is checked). Raises InspectrError only when the input is unusable."""
    from ..errors import ImageNotFound

    transport, raw, _ = parse_reference(reference)
    if transport == "docker":
        return _registry(reference, limits, skip_blobs)
    path = Path(raw)
    if not os.path.lexists(path):
        raise ImageNotFound(f"{raw}: no such file or directory")
    result = IntegrityResult(format="", path=path, transport=transport or "")
    if path.is_dir():
        if (path / "oci-layout").is_file() and transport in (None, "oci"):
            result.format, result.transport = "oci-layout", "oci"
            store: DirStore | ArchiveStore = DirStore(path, limits)
            result.store = store
            _oci(result, store, limits, skip_blobs)
        elif (path / "manifest.json").is_file() and transport in (None, "dir"):
            result.format, result.transport = "dir", "dir"
            _dir(result, path, limits, skip_blobs)
        else:
            raise ImageNotFound(f"{raw}: directory is neither an OCI layout nor a dir: image")
        return result
    archive = ArchiveIndex(path, limits)
    for note in archive.notes:
        result.add("archive", str(path), Status.WARN, note, "outer-archive")
    has_oci = "oci-layout" in archive and "index.json" in archive
    store = ArchiveStore(archive, limits)
    result.store = store
    if has_oci:
        result.format = "oci-archive" if "manifest.json" not in archive else "docker-archive (Docker 25+ OCI layout)"
        result.transport = "oci-archive" if "manifest.json" not in archive else "docker-archive"
        _oci(result, store, limits, skip_blobs)
        if "manifest.json" in archive:
            _docker_manifest_json(result, archive, limits, oci=True)
    elif "manifest.json" in archive:
        result.format, result.transport = "docker-archive (legacy docker save)", "docker-archive"
        result.add("manifest-digest", "manifest.json", Status.INFO,
                   "legacy docker save has no manifest: registry signatures cannot be checked against it")
        _docker_manifest_json(result, archive, limits, oci=False)
    else:
        raise ImageNotFound(f"{raw}: tar archive holds neither an OCI layout nor a docker save manifest.json")
    return result
