"""`pull`: save a registry image, with its signatures and attachments, as a verified OCI
layout or archive for offline review. Read-only towards the registry.

Every blob reachable from the tag (all platforms, unless one is chosen) and from the
signature, attestation and referrer manifests is fetched and its size and digest checked
before anything is written; the result appears at DEST in one rename, so a failed pull leaves
nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DigestMismatch, ExportError, MalformedImage, SizeMismatch, UsageError, WriteError, write_error_class
from ..limits import Limits
from ..mediatypes import INDEX_TYPES, MANIFEST_TYPES
from ..model import Descriptor, Index, Manifest, Platform
from ..untrusted.jsonload import load_json
from .blobs import FileSlice, MemoryBlob
from ..store import CONTAINERD_NAME, PULLED_FROM, REF_NAME
from ..session import Session
from .registry import RegistryStore, open_registry_store

__all__ = ["PullResult", "pull_image"]

_CHUNK = 1 << 20


@dataclass
class PullResult:
    reference: str
    dest: Path
    format: str
    top_digest: str
    blobs: int = 0
    bytes: int = 0
    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _check_blob(blob: FileSlice | MemoryBlob, desc: Descriptor, what: str, report: Callable[[int], None] | None = None) -> None:
    """Read the blob through (a remote one lands in the cache on the way) and hash what was read:
    the cache dir is not trusted either. `report` is told the bytes, every few MB."""
    h = desc.digest.hasher()
    n = told = 0
    with blob.open() as fp:
        while chunk := fp.read(_CHUNK):
            n += len(chunk)
            h.update(chunk)
            if report is not None and n - told >= 4 * _CHUNK:
                report(n - told)
                told = n
    if report is not None:
        report(n - told)
    if n != desc.size:
        raise SizeMismatch(f"{what}: descriptor says {desc.size} bytes, blob has {n}")
    if h.hexdigest() != desc.digest.encoded:
        raise DigestMismatch(f"{what}: expected {desc.digest}, got {desc.digest.algorithm}:{h.hexdigest()}")


def _walk(store: RegistryStore, entries: list[Descriptor], limits: Limits, session: Session) -> dict[str, str]:
    """Every blob reachable from `entries`, fetched and verified: digest -> cache path."""
    out: dict[str, str] = {}
    todo: list[tuple[Descriptor, str, int]] = [(d, f"index.json[{i}]", 0) for i, d in enumerate(entries)]
    while todo:
        desc, what, depth = todo.pop()
        key = str(desc.digest)
        if key in out:
            continue
        if not desc.digest.verifiable:
            raise MalformedImage(f"{store.label}: {what}: digest {desc.digest} cannot be verified")
        if desc.size > limits.max_blob_bytes:
            raise MalformedImage(f"{store.label}: {what}: {desc.size} bytes exceeds max_blob_bytes")
        blob = store.blob(desc.digest, what)
        _check_blob(blob, desc, f"{store.label}: {what}", session.byte_reporter(key, desc.size))
        if not isinstance(blob, FileSlice):  # the cache was writable when pull began (pull_image checks)
            raise WriteError(f"{store.cache.root}: the blob cache stopped keeping blobs while {what} was pulled "
                             f"(disk full?); pull stages blobs there: free space, or give --cache-dir DIR")
        out[key] = blob.path
        if desc.media_type not in INDEX_TYPES and desc.media_type not in MANIFEST_TYPES:
            continue
        if depth > 4:
            raise MalformedImage(f"{store.label}: {what}: manifests nested more than 4 deep")
        with open(blob.path, "rb") as fp:
            doc = load_json(fp.read(limits.max_json_bytes + 1), f"{store.label}: {what}", limits)
        if desc.media_type in INDEX_TYPES:
            subs = list(Index.from_json(doc, f"{store.label}: {what}").manifests)
            todo += [(d, f"{what} → {d.digest}", depth + 1) for d in subs]
        else:
            manifest = Manifest.from_json(doc, f"{store.label}: {what}")
            todo.append((manifest.config, f"{what} config", depth + 1))
            todo += [(d, f"{what} layer {i}", depth + 1) for i, d in enumerate(manifest.layers) if not d.urls]
    return out


def _write_layout(root: Path, index: bytes, blobs: dict[str, str]) -> None:
    (root / "blobs").mkdir()
    (root / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_bytes(index)
    for digest, src in sorted(blobs.items()):
        alg, hexa = digest.split(":", 1)
        target = root / "blobs" / alg / hexa
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(src, target)  # the cache is content-addressed and never rewritten in place
        except OSError:
            shutil.copyfile(src, target)


def _write_archive(path: Path, index: bytes, blobs: dict[str, str]) -> None:
    def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))

    with tarfile.TarFile(path, "w", format=tarfile.PAX_FORMAT) as tar:  # writing only: never parses image bytes
        add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes(tar, "index.json", index)
        for digest, src in sorted(blobs.items()):
            alg, hexa = digest.split(":", 1)
            info = tarfile.TarInfo(f"blobs/{alg}/{hexa}")
            info.size = os.path.getsize(src)
            info.mode = 0o644
            with open(src, "rb") as fp:
                tar.addfile(info, fp)


def pull_image(reference: str, dest: Path, fmt: str = "oci", platform: Platform | None = None,
               attachments: bool = True, *, session: Session) -> PullResult:
    """Pull `reference` (docker://…) into a new OCI layout dir (fmt "oci") or tar ("oci-archive")."""
    if fmt not in ("oci", "oci-archive"):
        raise UsageError(f"pull: unknown format {fmt!r} (oci or oci-archive)")
    if os.path.lexists(dest) and not (fmt == "oci" and dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir())):
        raise ExportError(f"{dest}: already exists; give a new path (or an empty directory for an OCI layout)")
    parent = dest.absolute().parent
    if not parent.is_dir():
        raise ExportError(f"{parent}: no such directory")
    limits = session.limits
    store = open_registry_store(reference, limits, session.registry, attachments=attachments, platform=platform)
    failure = store.cache.writable()
    if failure is not None:  # pull stages every blob in the cache before the one rename into DEST
        raise write_error_class(failure)(
            f"{store.cache.root}: the blob cache cannot be written ({failure.strerror or type(failure).__name__}); "
            "pull stages blobs there: fix it, or give --cache-dir DIR")
    index_bytes = store.doc("index.json", "index.json")
    index = Index.from_json(load_json(index_bytes, f"{store.label}: index.json", limits), f"{store.label}: index.json")
    blobs = _walk(store, list(index.manifests), limits, session)
    result = PullResult(reference, dest, fmt, str(store.top_digest), problems=list(store.problems))
    result.names = [d.annotations.get(REF_NAME, "") for d in index.manifests]
    result.blobs = len(blobs)
    result.bytes = sum(os.path.getsize(p) for p in blobs.values())
    doc = json.loads(index_bytes)
    top = doc["manifests"][0]  # the image itself; the entries after it are its attachments
    top["annotations"] = dict(top.get("annotations") or {}, **{CONTAINERD_NAME: str(store.ref), PULLED_FROM: str(store.ref)})
    pretty = json.dumps(doc, indent=2).encode() + b"\n"
    try:
        if fmt == "oci":
            tmp = Path(tempfile.mkdtemp(prefix=".inspectr-pull-", dir=parent))
            try:
                _write_layout(tmp, pretty, blobs)
                if dest.is_dir():
                    dest.rmdir()  # empty, checked above
                os.rename(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        else:
            fd, tmp_name = tempfile.mkstemp(prefix=".inspectr-pull-", suffix=".tar", dir=parent)
            os.close(fd)
            try:
                _write_archive(Path(tmp_name), pretty, blobs)
                os.rename(tmp_name, dest)
            except BaseException:
                os.unlink(tmp_name)
                raise
    except OSError as err:
        raise ExportError(f"{dest}: cannot write: {err.strerror}") from None
    return result
