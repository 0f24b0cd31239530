"""`docker://` images: a registry seen as an OCI layout.

`RegistryStore` answers the same calls as a layout dir: `oci-layout` and `index.json` are
synthesised (the resolved tag, plus signature, attestation and referrer manifests when asked
for), and blobs come from the pulled-blob cache, fetched on first use. Manifests and configs
are fetched when read; layers only when a command streams them, so `inspect` pulls no layer.
Everything downstream verifies digests exactly as for a layout on disk.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..digest import Digest
from ..errors import BlobNotFound, InspectrError
from ..fs.cache import default_cache_dir
from ..limits import Limits
from ..mediatypes import INDEX_TYPES, MANIFEST_TYPES, OCI_INDEX
from ..model import Index, Platform
from ..registry import RegistrySettings
from ..registry.blobcache import BlobCache
from ..registry.client import BlobDownload, ClientPool, RegistryClient, RegistryOptions
from ..registry.reference import RegistryRef, parse_docker_reference
from ..untrusted.jsonload import load_json
from .blobs import FileSlice, MemoryBlob, SliceReader
from ..store import REF_NAME, Container
from .common import choose_platform
from .oci_layout import layout_container

__all__ = ["RegistryStore", "RemoteBlob", "registry_container", "open_registry_store"]

_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
MAX_REFERRERS = 100
MAX_CHILDREN = 16  # platforms of an index whose own attachments are looked up (5 requests each)
_ARTIFACT_MANIFEST_TYPES = frozenset(MANIFEST_TYPES) | frozenset(INDEX_TYPES)


@dataclass(frozen=True, slots=True)
class BlobFetch:
    """What a worker process needs to fetch one blob itself (picklable)."""

    host: str
    repository: str
    digest: Digest
    options: RegistryOptions
    limits: Limits
    what: str
    clients: ClientPool


@dataclass(frozen=True, slots=True)
class RemoteBlob(FileSlice):
    """A blob not pulled yet: `path` is where the cache will hold it; `open` fetches first."""

    fetch: BlobFetch | None = None

    def open(self) -> BinaryIO:
        path = Path(self.path)
        if self.fetch is not None and not path.is_file():
            # One download feeds both the reader and the cache (tee, committed only when verified).
            f = self.fetch
            client = f.clients.client(f.host, f.options, f.limits)
            return BlobDownload(client, f.repository, f.digest, self.length, path, f.what)  # type: ignore[return-value]
        return SliceReader(self.path, 0, self.length)  # type: ignore[return-value]


class RegistryStore:
    """A BlobStore over one repository of one registry."""

    def __init__(self, ref: RegistryRef, client: RegistryClient, cache: BlobCache, limits: Limits,
                 clients: ClientPool) -> None:
        self.ref = ref
        self.clients = clients
        self.client = client
        self.cache = cache
        self.limits = limits
        self.label = f"docker://{ref}"
        self._known: dict[str, tuple[str, int]] = {}  # digest -> (media type, size), from fetched manifests
        self._failed: dict[str, InspectrError] = {}  # manifests the registry would not give
        self._entries: list[dict[str, Any]] = []
        top = client.get_manifest(ref.repository, ref.reference, f"docker://{ref}")
        assert top is not None
        self.top_digest = top.digest
        self.top_media_type = top.media_type
        self._remember(top.digest, top.data, top.media_type)
        annotations = {REF_NAME: ref.tag} if ref.tag and ref.digest is None else {}
        self._entries.append({"mediaType": top.media_type, "digest": str(top.digest), "size": len(top.data),
                              **({"annotations": annotations} if annotations else {})})
        self.problems: list[str] = []

    def _remember(self, digest: Digest, data: bytes, media_type: str) -> None:
        self.cache.put(digest, data)
        self._known[str(digest)] = (media_type, len(data))
        try:
            doc = load_json(data, f"{self.label}: {digest}", self.limits)
        except InspectrError:
            return  # reported by whoever reads it as a descriptor
        if not isinstance(doc, dict):
            return
        descs = [doc.get("config"), doc.get("subject")]
        for group in (doc.get("layers"), doc.get("manifests")):
            if isinstance(group, list):
                descs += group
        for d in descs:
            if isinstance(d, dict) and isinstance(d.get("digest"), str) and isinstance(d.get("size"), int) \
                    and isinstance(d.get("mediaType"), str) and d["size"] >= 0:
                self._known.setdefault(d["digest"], (d["mediaType"], d["size"]))

    # -- BlobStore -------------------------------------------------------------------------

    def doc(self, name: str, what: str) -> bytes:
        if name == "oci-layout":
            return _LAYOUT
        if name == "index.json":
            return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self._entries}).encode()
        raise BlobNotFound(f"{self.label}: {what}: no {name} in a registry")

    def has_doc(self, name: str) -> bool:
        return name in ("oci-layout", "index.json")

    def list_blobs(self) -> set[str]:
        return set()  # a registry cannot be listed; unreferenced-blob checks do not apply

    def blob(self, digest: Digest, what: str) -> FileSlice | MemoryBlob:
        path = self.cache.path(digest)
        known = self._known.get(str(digest))
        media_type = known[0] if known else ""
        is_manifest = media_type in _ARTIFACT_MANIFEST_TYPES or (not known and ("manifest" in what or "index" in what))
        size = self.cache.lookup(digest)
        small = size is not None and size <= self.limits.max_json_bytes
        if size is not None and (known is None or known[1] == size) and not small:
            self.cache.touch(digest)  # a layer: whoever reads it verifies it while streaming
            return FileSlice(str(path), 0, size)
        if small:
            # Manifests, configs and payloads are checked on every hit: one altered in the cache
            # is fetched again (and replaced) instead of failing every later command.
            with open(path, "rb") as fp:
                data = fp.read()
            if hashlib.new(digest.algorithm, data).hexdigest() == digest.encoded:
                self.cache.touch(digest)
                if is_manifest:
                    self._remember(digest, data, media_type)
                return FileSlice(str(path), 0, len(data))
        if is_manifest:
            if str(digest) in self._failed:  # asked again by another check: the same answer, no request
                raise self._failed[str(digest)]
            try:
                got = self.client.get_manifest(self.ref.repository, str(digest), f"{self.label}: {what} {digest}")
            except InspectrError as err:
                self._failed[str(digest)] = err
                raise
            assert got is not None
            self._remember(digest, got.data, got.media_type)
            return self._kept(digest, got.data)
        fetch = BlobFetch(self.client.host, self.ref.repository, digest, self.client.options, self.limits,
                          f"{self.label}: {what} {digest}", self.clients)
        if known is not None and (known[1] > self.limits.max_json_bytes or what.startswith("layer")):
            return RemoteBlob(str(path), 0, known[1], fetch)  # a layer: pulled when first read
        data = self.client.read_small_blob(self.ref.repository, digest, known[1] if known else None, path, fetch.what)
        return self._kept(digest, data)

    def _kept(self, digest: Digest, data: bytes) -> FileSlice | MemoryBlob:
        """The cached file when the cache could keep these verified bytes, else the bytes: a
        read-only or full cache costs requests, never the run."""
        if self.cache.lookup(digest) == len(data):
            return FileSlice(str(self.cache.path(digest)), 0, len(data))
        return MemoryBlob(data, str(digest))

    # -- signatures and attachments --------------------------------------------------------

    def select_platform(self, platform: Platform) -> None:
        """Make one platform's manifest the image (for `pull --platform`): index.json then names
        it by the tag instead of the multi-platform index."""
        if self.top_media_type not in INDEX_TYPES:
            return
        with self.blob(self.top_digest, "index").open() as fp:
            index = Index.from_json(load_json(fp.read(), f"{self.label}: index", self.limits), f"{self.label}: index")
        chosen, _ = choose_platform(list(index.manifests), platform, f"{self.label}: index {self.top_digest}")
        entry = dict(self._entries[0], mediaType=chosen.media_type, digest=str(chosen.digest), size=chosen.size)
        self._entries[0] = entry
        self.top_digest, self.top_media_type = chosen.digest, chosen.media_type

    def add_attachments(self) -> None:
        """List cosign `.sig`/`.att`/`.sbom` tags and the referrers API (else its `sha256-<hex>`
        tag fallback) as named entries of the synthesised index.json, for the image's digest and,
        when it is an index, for up to MAX_CHILDREN of its manifests (cosign sign --recursive
        signs those); the verify engine then finds them as in a `cosign save` layout."""
        digests = [self.top_digest]
        if self.top_media_type in INDEX_TYPES:
            try:
                with self.blob(self.top_digest, "index").open() as fp:
                    index = Index.from_json(load_json(fp.read(), self.label, self.limits), self.label)
                children = [d.digest for d in index.manifests if d.media_type in _ARTIFACT_MANIFEST_TYPES]
            except InspectrError as err:
                self.problems.append(f"{self.label}: index: {err.message}")
                children = []
            if len(children) > MAX_CHILDREN:
                self.problems.append(f"{self.label}: attachments looked up for the index and {MAX_CHILDREN} of its "
                                     f"{len(children)} manifests")
            digests += children[:MAX_CHILDREN]
        for digest in digests:
            self._attachments_of(digest)

    def _attachments_of(self, digest: Digest) -> None:
        tag = f"{digest.algorithm}-{digest.encoded}"
        repo = self.ref.repository
        for suffix in (".sig", ".att", ".sbom"):
            got = self._optional(repo, tag + suffix)
            if got is not None:
                self._add_entry(got.digest, got.data, got.media_type, tag + suffix)
        data = None
        try:
            data = self.client.referrers(repo, digest)
        except InspectrError as err:
            self.problems.append(f"{self.label}: referrers API: {err.message}")
        if data is None:
            got = self._optional(repo, tag)
            if got is None:
                return
            data = got.data
        data = self._bounded(data, tag)
        # The API's answer or the fallback tag's index, as one index named like the tag fallback.
        self._add_entry(Digest("sha256", hashlib.sha256(data).hexdigest()), data, OCI_INDEX, tag)

    def _bounded(self, data: bytes, tag: str) -> bytes:
        """A hostile registry could list thousands of referrers, each a request: keep the first
        MAX_REFERRERS and say so."""
        try:
            doc = load_json(data, f"{self.label}: referrers of {tag}", self.limits)
        except InspectrError:
            return data  # reported when the verify engine reads it
        manifests = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(manifests, list) or len(manifests) <= MAX_REFERRERS:
            return data
        self.problems.append(f"{self.label}: {len(manifests)} referrers listed for {tag}; only the first "
                             f"{MAX_REFERRERS} are checked")
        return json.dumps(dict(doc, manifests=manifests[:MAX_REFERRERS])).encode()

    def _optional(self, repo: str, reference: str) -> Any:
        try:
            return self.client.get_manifest(repo, reference, f"{self.label}: tag {reference}", optional=True)
        except InspectrError as err:
            self.problems.append(f"{self.label}: tag {reference}: {err.message}")
            return None

    def _add_entry(self, digest: Digest, data: bytes, media_type: str, name: str) -> None:
        self._remember(digest, data, media_type)
        self._entries.append({"mediaType": media_type, "digest": str(digest), "size": len(data),
                              "annotations": {REF_NAME: name}})


def open_registry_store(reference: str, limits: Limits, settings: RegistrySettings,
                        attachments: bool = False, platform: Platform | None = None) -> RegistryStore:
    ref = parse_docker_reference(reference)
    root = None if settings.no_cache else (settings.cache_dir or default_cache_dir())
    cache = BlobCache(root)
    client = settings.clients.client(ref.api_host, settings.options, limits)
    store = RegistryStore(ref, client, cache, limits, settings.clients)
    if platform is not None:
        store.select_platform(platform)
    if attachments:
        store.add_attachments()
    return store


def registry_container(reference: str, limits: Limits, settings: RegistrySettings,
                       attachments: bool = False) -> Container:
    """A repository seen as a layout whose index.json lists the resolved tag (and, with
    `attachments`, its signature, attestation and referrer manifests)."""
    store = open_registry_store(reference, limits, settings, attachments=attachments)
    return layout_container(store, reference=reference, transport="docker", path=str(store.ref), fmt="registry",
                            ref=None, limits=limits, problems=tuple(store.problems))
