"""The fleet's tasks, as they run on a worker: one per distinct layer digest (fetch, verify,
index) and one per image (union tree, inventory, audit, verify) that depends on its layers'.

Every task is pure and idempotent: its inputs are references, digests and plain settings (never
a path on the client's machine), it writes nothing but the worker's verified blob cache, and it
returns a value. So Dask may run one twice (a worker died mid-task) and nothing changes. Failures
of the image itself (InspectrError) are results, not exceptions: one bad image does not stop the
scan, and the store records why it failed.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audit.engine import AuditRules, audit_image
from ..errors import DiffIdMismatch, InspectrError, MalformedImage
from ..fs.build import content_key, index_layers, index_refs
from ..fs.cache import encode_index
from ..fs.layer_index import LayerIndex
from ..fs.tree import apply_layers
from ..image import Image
from ..limits import Limits
from ..packages.inventory import read_inventory
from ..registry import RegistryOptions, RegistrySettings
from ..session import LocalPool, Session
from ..verify.engine import verify_image
from .trust import FleetTrust

__all__ = ["WorkerConfig", "LayerJob", "ImageJob", "LayerResult", "ImageResult", "layer_key", "image_key",
           "index_layer_task", "scan_image_task", "encode_layer"]

# Where a layer's index came from in an image task: this run's layer task (verified there), or
# the store of an earlier run (its blob is verified again where the image is opened).
_STORED_LOCATION = "fleet-store:"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker needs to build its own Session: limits and registry settings. `cache_dir`
    is set only for the embedded cluster (same machine); a remote worker uses its own."""

    limits: Limits = field(default_factory=Limits)
    options: RegistryOptions = field(default_factory=RegistryOptions)
    cache_dir: str | None = None
    no_cache: bool = False
    trust: FleetTrust = FleetTrust()

    def session(self) -> Session:
        # One process per Dask worker already: layer work runs in it, never in a nested pool.
        registry = RegistrySettings(self.options, Path(self.cache_dir) if self.cache_dir else None, self.no_cache)
        return Session(limits=self.limits, executor=LocalPool(workers=1), registry=registry)


@dataclass(frozen=True, slots=True)
class LayerJob:
    """One distinct layer: its digest and media type, and an image that holds it (at `position`),
    pinned by manifest digest where the transport allows, through which a worker reaches it."""

    digest: str
    media_type: str | None
    size: int
    reference: str
    platform: str | None
    position: int


@dataclass(frozen=True, slots=True)
class ImageJob:
    reference: str
    platform: str | None
    manifest_digest: str


@dataclass(slots=True)
class LayerResult:
    """A layer task's answer. `worker`, `pid` and `seconds` say where and how long it was
    indexed (what the client counts); `stored` marks an index read back from the store."""

    digest: str
    media_type: str | None
    size: int
    index: LayerIndex | None = None
    encoded: bytes | None = None  # the index as the store keeps it (zstd JSON), made on the worker
    error_class: str | None = None
    error: str | None = None
    worker: str = ""
    pid: int = 0
    seconds: float = 0.0
    stored: bool = False


@dataclass(slots=True)
class ImageResult:
    reference: str
    platform: str
    manifest_digest: str
    config_digest: str = ""
    layers: list[tuple[str, str | None, int]] = field(default_factory=list)  # (digest, media type, size)
    status: str = "complete"  # complete | error
    error_class: str | None = None
    error: str | None = None
    # (path, layer position, sha256, mode, uid, gid, kind, size)
    files: list[tuple[str, int, str | None, int, int, int, str, int]] = field(default_factory=list)
    packages: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    worker: str = ""
    pid: int = 0
    seconds: float = 0.0
    # Layers the image task indexed itself (a layer index the seed did not cover): 0 when every
    # index came from its layer's task or the store, as it should.
    reindexed: int = 0
    trust: str = ""  # FleetTrust.fingerprint() of the inputs the verdict was reached under


def layer_key(digest: str, media_type: str | None) -> str:
    """The Dask key of a layer's task: the same digest (and media type) in a thousand images is
    one key, so the scheduler itself runs it once."""
    return f"layer-{digest}-{media_type or 'none'}"


def image_key(job: ImageJob) -> str:
    return f"image-{job.manifest_digest}-{job.reference}-{job.platform or ''}"


def _worker_address() -> str:
    try:
        from distributed import get_worker  # a Dask worker is running this task

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def encode_layer(index: LayerIndex) -> bytes:
    """The store's form of an index: the layer cache's JSON document, zstd-compressed."""
    import json

    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(json.dumps(encode_index(index), separators=(",", ":")).encode())


def index_layer_task(job: LayerJob, config: WorkerConfig) -> LayerResult:
    """Fetch one layer blob from where its image lives, verify its digest and size (and the
    diff_id its image's config names) while streaming, and index it with secret scanning."""
    started = time.monotonic()
    result = LayerResult(job.digest, job.media_type, job.size, worker=_worker_address(), pid=os.getpid())
    session = config.session()
    try:
        image = session.open_image(job.reference, job.platform)
        ref = next((r for r in image.layers if str(r.digest) == job.digest and r.media_type == job.media_type), None)
        if ref is None:
            raise MalformedImage(f"{job.reference}: no layer {job.digest} any more")
        index = index_refs([ref], image.limits, session=session, scan_secrets=True)[0]
        result.index = index
        result.encoded = encode_layer(index)
    except InspectrError as err:
        result.error_class, result.error = err.error_class, err.message
    result.seconds = time.monotonic() - started
    return result


def _seed(session: Session, image: Image, layers: tuple[LayerResult, ...]) -> None:
    """Hand the layer tasks' indexes to the engines through the session's verified layers, so
    audit, verify and the inventory run unchanged and index nothing again."""
    by_key = {(r.digest, r.media_type): r for r in layers}
    for ref in image.layers:
        found = by_key.get((str(ref.digest), ref.media_type))
        if found is None or found.index is None:
            raise MalformedImage(f"{image.reference}: layer {ref.index} ({ref.digest}) was not indexed")
        if ref.diff_id is not None and found.index.diff_id != str(ref.diff_id):
            # The layer task checked the diff_id of the image it went through; this image's
            # config may name another one for the same blob.
            raise DiffIdMismatch(f"{ref.label}: diff_id mismatch: config says {ref.diff_id}, uncompressed layer is "
                                 f"{found.index.diff_id}", hint="the layer or the config was modified after the image was written")
        index = dataclasses.replace(found.index, layer=ref.index)
        location = f"{_STORED_LOCATION}{ref.digest}" if found.stored else ref.blob.key
        key = content_key(ref)
        session.verified.put(key, index, location, True)
        session.verified.put(key, dataclasses.replace(index, secrets=[]), location, False)


def scan_image_task(job: ImageJob, config: WorkerConfig, *layers: LayerResult) -> ImageResult:
    """Everything the one-image commands report about one image, from its layers' indexes:
    audit findings, the verify verdict, the union tree's files and the package inventory."""
    started = time.monotonic()
    result = ImageResult(job.reference, job.platform or "", job.manifest_digest, worker=_worker_address(), pid=os.getpid(),
                         trust=config.trust.fingerprint())
    failed = next((r for r in layers if r.error is not None), None)
    try:
        if failed is not None:
            raise _LayerFailed(failed.error_class or "error", f"layer {failed.digest}: {failed.error}")
        session = config.session()
        container = session.open_container(job.reference, attachments=True)
        image = session.open_image(container, job.platform)
        result.platform = image.platform
        result.config_digest = str(image.config_digest)
        result.layers = [(str(r.digest), r.media_type, r.blob.length) for r in image.layers]
        if str(image.manifest_digest) != job.manifest_digest:
            raise MalformedImage(f"{job.reference}: now names manifest {image.manifest_digest}, not {job.manifest_digest} "
                                 "(the tag moved during the scan)")
        _seed(session, image, layers)
        seeded = len(session.verified)
        report = audit_image(image, AuditRules(), session=session)
        with tempfile.TemporaryDirectory(prefix="inspectr-fleet-trust-") as workdir:
            verification = verify_image(container, config.trust.build(workdir), session=session)
        indexes = index_layers(image, session=session, scan_secrets=True)  # the seeded indexes
        tree = apply_layers(indexes, image.limits)
        inventory = read_inventory(image, indexes, tree)
        result.reindexed = len(session.verified) - seeded  # an index made here is a new entry there
    except InspectrError as err:
        result.status, result.error_class, result.error = "error", err.error_class, err.message
        result.seconds = time.monotonic() - started
        return result
    digests = [str(r.digest) for r in image.layers]
    result.files = [(n.path, n.layer, n.sha256, n.mode, n.uid, n.gid, n.kind.value, n.size) for n in tree.walk()]
    result.packages = [{"name": p.name, "version": p.version, "arch": p.arch, "ecosystem": p.ecosystem, "purl": p.purl,
                        "layer": p.layer, "layer_digest": digests[p.layer] if p.layer is not None else None}
                       for p in inventory.packages]
    result.findings = [dict(f.to_json(), layer_digest=digests[f.layer] if f.layer is not None else None)
                       for f in report.findings]
    result.verification = {
        "verdict": verification.verdict, "ok": verification.ok,
        "signed": verification.signature_ok,
        "signers": sorted({s.signer or s.identity or "" for s in verification.signatures
                           if s.status.value == "pass"} - {""}),
        "signatures": [s.to_json() for s in verification.signatures],
        "failed_checks": [c.to_json() for c in verification.checks if c.status.value == "fail"],
    }
    result.seconds = time.monotonic() - started
    return result


class _LayerFailed(InspectrError):
    """A layer of the image could not be indexed; the image carries that layer's error class."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
