"""The integrity chain, with no trust input: every descriptor's size then digest, index →
manifests → configs → layers (streamed: digest, size, diff_id, tar structure), Docker 25+
manifest.json against index.json, and blobs that nothing references or that are missing.

Unlike `open_image`, the walk does not stop at the first failure: every check is reported.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from typing import Any

from ..digest import Digest, VerifyingReader, check_bytes, read_verified, sha256_digest
from ..errors import InspectrError
from ..fs.build import index_checked
from ..fs.layer_index import LayerIndex
from ..image import BlobOpener, LayerRef
from ..limits import Limits
from ..mediatypes import CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, layer_compression
from ..model import Descriptor, ImageConfig, Index, Manifest
from ..store import BlobStore, Container, member_digest
from ..untrusted.jsonload import load_json
from ..session import Session
from .report import Check, Status

__all__ = ["IntegrityResult", "check_integrity"]


@dataclass(slots=True)
class IntegrityResult:
    """Checks, plus what the signature step needs: each top-level entry's digest chain."""

    container: Container
    checks: list[Check] = field(default_factory=list)
    manifest_digests: list[str] = field(default_factory=list)  # every image manifest/index reached
    manifests: dict[str, bytes] = field(default_factory=dict)  # digest -> verified bytes
    # Top-level entry digest -> the digests of it and of everything below it. Signatures are
    # matched against the selected image's chain only, never against any manifest in the layout.
    chains: dict[str, list[str]] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return self.container.format

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
        self.pending: list[tuple[LayerRef, str]] = []  # layers met in the walk, indexed together

    def blob(self, desc: Descriptor, kind: str, subject: str) -> BlobOpener | None:
        """Size of one blob (its digest too, unless it is a layer, hashed while it streams);
        None when it cannot be trusted."""
        blob = self._checked(desc, kind, subject)
        if blob is None:
            return None
        if kind != "layer":
            reader = VerifyingReader(blob.open(), desc.digest, desc.size, f"{self.store.label}: {kind} {desc.digest}")
            try:
                reader.drain()
            except InspectrError as err:
                _fail(self.r, f"{kind}-digest", subject, err)
                return None
            finally:
                reader.close()
            self.r.add(f"{kind}-digest", subject, Status.PASS, str(desc.digest))
        return blob

    def _checked(self, desc: Descriptor, kind: str, subject: str) -> BlobOpener | None:
        """The blob, once it is present with the descriptor's size; None (with the failed or
        skipped check recorded) otherwise."""
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
                try:
                    check_bytes(embedded, d, desc.size, f"{subject}: embedded data")
                    self.r.add(f"{kind}-data", subject, Status.PASS, "embedded data matches size and digest")
                except InspectrError:
                    self.r.add(f"{kind}-data", subject, Status.FAIL, "embedded data does not match the descriptor",
                               "digest-mismatch")
        if desc.size > self.limits.max_blob_bytes:  # refused before a byte is hashed (a sparse 1 TB file would take hours)
            self.r.add(f"{kind}-size", subject, Status.FAIL,
                       f"descriptor says {desc.size} bytes, over max_blob_bytes={self.limits.max_blob_bytes}", "size-limit-exceeded")
            return None
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
        return blob

    def _read(self, blob: BlobOpener, desc: Descriptor, kind: str, subject: str, max_bytes: int) -> bytes:
        """The blob through the one verifying reader; a mismatch becomes a failed check."""
        try:
            data = read_verified(blob.open(), desc.digest, desc.size, f"{self.store.label}: {kind} {desc.digest}",
                                 max_bytes)
        except InspectrError as err:
            check = "parse" if err.error_class == "size-limit-exceeded" else "digest"
            _fail(self.r, f"{kind}-{check}", subject, err)
            raise
        self.r.add(f"{kind}-digest", subject, Status.PASS, str(desc.digest))
        return data

    def json_blob(self, desc: Descriptor, kind: str, subject: str) -> tuple[bytes, Any] | None:
        blob = self._checked(desc, kind, subject)
        if blob is None:
            return None
        try:
            data = self._read(blob, desc, kind, subject, self.limits.max_json_bytes)
        except InspectrError:
            return None
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
        if blob is not None:
            self.pending.append((LayerRef(i, desc.media_type, desc.digest, desc.size, diff_id, blob), subject))

    def index_layers(self, session: Session) -> None:
        """Every layer met in the walk, inflated once on the session's executor (digest, size,
        diff_id and tar structure checked while streaming); the session keeps the indexes, so
        a later step of the run (gate's diff) does not inflate them again."""
        refs = [ref for ref, _ in self.pending]
        for (ref, subject), result in zip(self.pending, index_checked(refs, self.limits, session=session)):
            if not isinstance(result, LayerIndex):
                error_class, message = result
                check = {"digest-mismatch": "layer-digest", "size-mismatch": "layer-size",
                         "diffid-mismatch": "layer-diffid"}.get(error_class, "layer-content")
                self.r.add(check, subject, Status.FAIL, message, error_class)
                continue
            if ref.digest is not None:
                self.r.add("layer-digest", subject, Status.PASS, str(ref.digest))
            if ref.diff_id is not None:
                self.r.add("layer-diffid", subject, Status.PASS,
                           f"{ref.diff_id} ({result.compression}, {len(result.entries)} entries)")
            for notice in result.notices:
                self.r.add("layer-content", subject, Status.WARN, notice.message, notice.code)
        self.pending.clear()

    def referrers(self, present: set[str]) -> None:
        """OCI 1.1 referrers kept only as blobs (signatures, attestations, SBOMs): reached through
        their `subject`, so they and the blobs they name are checked, not reported as strays."""
        for _ in range(4):  # a referrer of a referrer, a few levels deep
            found = False
            for name in sorted(present - self.referenced):
                desc = self._small_manifest(name)
                if desc is None:
                    continue
                got = self.json_blob(desc, "referrer", f"referrer {name}")
                if got is None or not isinstance(got[1], dict):
                    continue
                found = True
                try:
                    manifest = Manifest.from_json(got[1], f"referrer {name}")
                except InspectrError as err:
                    _fail(self.r, "referrer-parse", f"referrer {name}", err)
                    continue
                for i, child in enumerate([manifest.config, *manifest.layers]):
                    self.blob(child, "blob", f"referrer {name} {'config' if i == 0 else f'layers[{i - 1}]'}")
            if not found:
                return

    def _small_manifest(self, name: str) -> Descriptor | None:
        """A blob that is an image manifest whose subject this walk reached, else None."""
        if not name.startswith("sha256:"):
            return None
        try:
            d = Digest("sha256", name[7:])
            blob = self.store.blob(d, "blob")
            if blob.length > 64 << 10:
                return None
            with blob.open() as fp:
                head = fp.read(64 << 10)
            doc = load_json(head, name, self.limits)
        except InspectrError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or subject.get("digest") not in self.referenced or not isinstance(doc.get("mediaType"), str):
            return None
        return Descriptor(doc["mediaType"], d, blob.length)

    def unreferenced(self, present: set[str]) -> None:
        for digest in sorted(present - self.referenced):
            self.r.add("blob-referenced", digest, Status.WARN, "blob is in the layout but nothing references it", "unreferenced-blob")


def _known_layer(media_type: str) -> bool:
    try:
        layer_compression(media_type)
        return True
    except KeyError:
        return False


def _layout(result: IntegrityResult, container: Container, skip_blobs: bool, session: Session) -> None:
    """Every entry of index.json, walked down to the layers; then blobs nothing references."""
    assert container.index is not None
    walker = _Walker(result, container.store, container.limits, skip_blobs)
    result.add("layout-version", "oci-layout", Status.PASS, "imageLayoutVersion present")
    for entry in container.entries:
        desc = entry.descriptor
        assert desc is not None
        before = len(result.manifest_digests)
        walker.descriptor(desc, f"index.json manifests[{entry.position}]" + (f" ({entry.names[0]})" if entry.names else ""))
        result.chains[str(desc.digest)] = [str(desc.digest)] + result.manifest_digests[before + 1:]
    walker.index_layers(session)
    if not skip_blobs and container.transport != "docker":  # a registry cannot be listed
        walker.referrers(container.store.list_blobs())
        walker.unreferenced(container.store.list_blobs())


def _docker_save(result: IntegrityResult, container: Container, session: Session) -> None:
    """Legacy manifest.json entries: Config named by its digest, diff_ids per layer; in a
    Docker 25+ save, each entry must also match a manifest that index.json reaches."""
    archive, limits = container.archive, container.limits
    assert archive is not None
    oci = container.index is not None
    reached: dict[str, list[str]] = {}
    if oci:
        for digest, data in result.manifests.items():
            try:
                m = Manifest.from_json(load_json(data, digest, limits), digest)
            except InspectrError:
                continue
            reached[str(m.config.digest)] = [str(l.digest) for l in m.layers]
    walker = _Walker(result, container.store, limits)
    for entry in container.save_entries:
        subject = f"manifest.json[{entry.position}] {', '.join(entry.repo_tags)}".strip()
        try:
            config_bytes = archive.read_small(entry.config, "config", limits)
        except InspectrError as err:
            _fail(result, "config-present", subject, err)
            continue
        config_digest = sha256_digest(config_bytes)
        named = member_digest(entry.config)
        if named is not None:
            ok = config_digest == named
            result.add("config-digest", f"{subject} Config {entry.config}", Status.PASS if ok else Status.FAIL,
                       str(config_digest) if ok else f"name says {named}, content is {config_digest}",
                       None if ok else "digest-mismatch")
        if oci:
            layers = [f"sha256:{os.path.basename(n)}" for n in entry.layers]
            match = reached.get(str(config_digest))
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
        if len(config.diff_ids) != len(entry.layers):
            result.add("diffid-count", subject, Status.FAIL,
                       f"{len(entry.layers)} layers, config lists {len(config.diff_ids)} diff_ids", "diffid-mismatch")
            continue
        for j, name in enumerate(entry.layers):
            lsub = f"{subject} → {name}"
            try:
                blob = archive.blob(name, f"layer {j}")
            except InspectrError as err:
                _fail(result, "layer-present", lsub, err)
                continue
            named = member_digest(name, layer=True)  # as sources/ names it: the same layer, indexed once a run
            walker.pending.append((LayerRef(j, None, named, blob.length if named else None, config.diff_ids[j], blob), lsub))
    walker.index_layers(session)


def _dir(result: IntegrityResult, container: Container, skip_blobs: bool, session: Session) -> None:
    """A dir: copy: manifest.json (a manifest or a list, described by its own digest) and its blobs."""
    walker = _Walker(result, container.store, container.limits, skip_blobs)
    top = container.entries[0].descriptor
    assert top is not None and container.manifest_bytes is not None
    digest = str(top.digest)
    walker.referenced.add(digest)
    result.manifest_digests.append(digest)
    result.manifests[digest] = container.manifest_bytes
    result.add("manifest-digest", "manifest.json", Status.INFO, f"{digest} (computed: dir: stores no manifest digest)")
    try:
        if container.index is not None:
            for i, desc in enumerate(container.index.manifests):
                walker.descriptor(desc, f"manifest.json manifests[{i}]")
        else:
            doc = load_json(container.manifest_bytes, "manifest.json", container.limits)
            walker.manifest(Manifest.from_json(doc, "manifest.json"), "manifest.json")
    except InspectrError as err:
        _fail(result, "manifest-parse", "manifest.json", err)
    result.chains[digest] = list(result.manifest_digests)
    walker.index_layers(session)
    if not skip_blobs:
        walker.unreferenced(container.store.list_blobs())


def check_integrity(container: Container, *, session: Session | None = None, skip_blobs: bool = False) -> IntegrityResult:
    """Every integrity check of what `sources/` opened: the whole container, whichever image
    the reference names. Never raises for a failed check (those are in the result)."""
    session = session or Session(limits=container.limits)
    result = IntegrityResult(container)
    if container.archive is not None:
        for note in container.archive.notes:
            result.add("archive", container.path, Status.WARN, note, "outer-archive")
    if container.transport == "docker":
        top = container.entries[0].descriptor
        assert top is not None
        result.add("manifest-digest", container.path, Status.PASS,
                   f"{top.digest} (recomputed; matches the requested digest and Docker-Content-Digest)")
    if container.transport == "dir":
        _dir(result, container, skip_blobs, session)
    elif container.index is not None:
        _layout(result, container, skip_blobs, session)
    else:
        result.add("manifest-digest", "manifest.json", Status.INFO,
                   "legacy docker save has no manifest: registry signatures cannot be checked against it")
    if container.save_entries:
        _docker_save(result, container, session)
    for problem in container.problems:
        result.add("registry", container.path, Status.WARN, problem, "registry-error")
    return result
