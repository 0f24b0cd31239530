"""Finding signatures for a set of manifest digests, and checking each one:
crypto first, then the strict payload, then the digest, then the identity (signatures.md §3)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import InspectrError, UsageError
from ..limits import Limits
from ..model import Index, Manifest
from ..session import Session
from ..store import BlobStore, Container
from ..untrusted.documents import read_descriptor
from ..userfiles import POLICY_MAX_BYTES, read_user_file
from ..untrusted.sigpayload import (
    ATOMIC_TYPE,
    COSIGN_TYPE,
    SIGSTORE_JSON_PREFIX,
    PayloadError,
    normalise_docker_reference,
    parse_simple_signing,
    parse_sigstore_json,
    repository_of,
)
from .keyless import CERT_ANNOTATION, Keyless
from .keys import Keyring, PublicKey, gpgv_verify
from .report import SignatureResult, Status

__all__ = ["Candidate", "find_in_layout", "find_in_dir", "find_in_path", "check_candidate"]

COSIGN_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
UNCHECKED_IDENTITY = ("valid keyless signature, identity not checked: give --certificate-identity (or -regexp) and "
                      "--certificate-oidc-issuer to say who must have signed")


@dataclass(frozen=True)
class Candidate:
    """Bytes that claim to sign something: a cosign payload + signature, or an OpenPGP message."""

    kind: str  # cosign | simple-signing
    source: str
    payload: bytes = b""  # cosign: the signed payload
    signature: bytes = b""  # cosign: raw signature bytes; simple-signing: the OpenPGP message
    annotations: tuple[tuple[str, str], ...] = ()


def _cosign_from_layer(payload: bytes, annotations: dict[str, str], source: str) -> Candidate | str:
    sig_b64 = annotations.get(COSIGN_SIG_ANNOTATION)
    if not sig_b64:
        return f"{source}: no {COSIGN_SIG_ANNOTATION} annotation"
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        return f"{source}: signature annotation is not base64"
    return Candidate("cosign", source, payload, sig, tuple(sorted(annotations.items())))


def _sig_manifest(store: BlobStore, desc_manifest: Manifest, source: str, limits: Limits) -> Iterator[Candidate | str]:
    for i, layer in enumerate(desc_manifest.layers):
        where = f"{source} layers[{i}]"
        if layer.media_type != COSIGN_MEDIA_TYPE:
            yield f"{where}: media type {layer.media_type} is not a cosign simple-signing payload"
            continue
        if layer.size > 1 << 20:
            yield f"{where}: payload larger than 1 MiB"
            continue
        try:
            data, _ = _read_verified(store, layer, where, limits)
        except InspectrError as err:
            yield f"{where}: {err.message}"
            continue
        yield _cosign_from_layer(data, layer.annotations, where)


def _read_verified(store: BlobStore, desc, what: str, limits: Limits) -> tuple[bytes, None]:  # type: ignore[no-untyped-def]
    blob = store.blob(desc.digest, what)
    with blob.open() as fp:
        data = fp.read(desc.size + 1)
    if len(data) != desc.size or hashlib.new(desc.digest.algorithm, data).hexdigest() != desc.digest.encoded:
        from ..errors import DigestMismatch

        raise DigestMismatch(f"{what}: blob does not match its descriptor")
    return data, None


def find_in_layout(store: BlobStore, index: Index, digests: list[str], limits: Limits) -> tuple[list[Candidate], list[str]]:
    """cosign `.sig` manifests by tag `sha256-<hex>.sig` or by `cosign save`'s kind annotation."""
    wanted = {f"{d.replace(':', '-')}.sig" for d in digests}
    found: list[Candidate] = []
    problems: list[str] = []
    for desc in index.manifests:
        name = desc.annotations.get("org.opencontainers.image.ref.name", "")
        kind = desc.annotations.get("kind", "")
        if name not in wanted and kind != "dev.cosignproject.cosign/sigs":
            continue
        source = f"{store.label}: {name or kind} {desc.digest}"
        try:
            _, doc = read_descriptor(store, desc, "signature manifest", limits)
            manifest = Manifest.from_json(doc, source)
        except InspectrError as err:
            problems.append(f"{source}: {err.message}")
            continue
        for item in _sig_manifest(store, manifest, source, limits):
            (found if isinstance(item, Candidate) else problems).append(item)  # type: ignore[arg-type]
    return found, problems


def _signature_files(directory: Path) -> list[Path]:
    """signature-1, signature-2, … read until the first gap (containers/image rule)."""
    out = []
    n = 1
    while (directory / f"signature-{n}").is_file():
        out.append(directory / f"signature-{n}")
        n += 1
    return out


def _from_file(path: Path) -> Candidate | str:
    try:
        data = read_user_file(path, "signature file", POLICY_MAX_BYTES)
    except UsageError as err:
        return err.message
    if len(data) > 4 << 20:
        return f"{path}: larger than 4 MiB"
    if data.startswith(SIGSTORE_JSON_PREFIX):
        try:
            sj = parse_sigstore_json(data)
        except PayloadError as err:
            return f"{path}: {err}"
        if sj.mime_type != COSIGN_MEDIA_TYPE:
            return f"{path}: sigstore-json of type {sj.mime_type!r} is not a cosign signature"
        return _cosign_from_layer(sj.payload, sj.annotations, str(path))
    return Candidate("simple-signing", str(path), signature=data)


def find_in_dir(directory: Path) -> tuple[list[Candidate], list[str]]:
    found: list[Candidate] = []
    problems: list[str] = []
    for path in _signature_files(directory):
        item = _from_file(path)
        (found if isinstance(item, Candidate) else problems).append(item)  # type: ignore[arg-type]
    return found, problems


def _is_tar(path: Path) -> bool:
    with open(path, "rb") as fp:
        head = fp.read(512)
    return len(head) == 512 and head[257:262] == b"ustar"


def _layout_at(path: Path, session: Session) -> Container:
    """An OCI layout or archive given with --signatures, opened by sources/ like any image."""
    return session.open_container(f"oci:{path}" if path.is_dir() else f"oci-archive:{path}")


def open_signature_layout(path: Path, session: Session) -> tuple[BlobStore, Index] | None:
    """The store and index of an OCI layout or archive given with --signatures, else None."""
    if not ((path.is_dir() and (path / "oci-layout").is_file()) or (path.is_file() and _is_tar(path))):
        return None
    try:
        container = _layout_at(path, session)
    except InspectrError:
        return None
    return (container.store, container.index) if container.index is not None else None


def find_in_path(path: Path, digests: list[str], session: Session) -> tuple[list[Candidate], list[str]]:
    """--signatures PATH: a standalone signature file, a lookaside root or leaf directory, an OCI
    layout or archive holding `.sig` manifests, or a skopeo dir: with signature-N files."""
    if path.is_file():
        if _is_tar(path):
            container = _layout_at(path, session)
            assert container.index is not None
            return find_in_layout(container.store, container.index, digests, session.limits)
        item = _from_file(path)
        return ([item], []) if isinstance(item, Candidate) else ([], [item])
    if not path.is_dir():
        return [], [f"{path}: no such file or directory"]
    if (path / "oci-layout").is_file():
        container = _layout_at(path, session)
        assert container.index is not None
        return find_in_layout(container.store, container.index, digests, session.limits)
    if _signature_files(path):
        return find_in_dir(path)
    # A lookaside root: <repo>@<alg>=<hex>/signature-N, searched for each digest.
    found: list[Candidate] = []
    problems: list[str] = []
    suffixes = {d.replace(":", "=") for d in digests}
    for leaf in sorted(path.rglob("*@*=*")):
        if leaf.is_dir() and not leaf.is_symlink() and leaf.name.split("@", 1)[1] in suffixes:
            more, bad = find_in_dir(leaf)
            found += more
            problems += bad
    return found, problems


def _identity_matches(signed: str, wanted: str, cosign: bool) -> bool:
    """--identity semantics: exact after normalisation; cosign payloads name only the
    repository, so for them (no tag/digest in the payload) the repositories must match."""
    signed_n, wanted_n = normalise_docker_reference(signed), normalise_docker_reference(wanted)
    if cosign and repository_of(signed_n) == signed_n:
        return repository_of(wanted_n) == signed_n
    return _with_default_tag(signed_n) == _with_default_tag(wanted_n)


def _with_default_tag(ref: str) -> str:
    """docker's rule: a reference with neither tag nor digest means `:latest`."""
    return ref if repository_of(ref) != ref else f"{ref}:latest"


def check_candidate(c: Candidate, digests: list[str], keys: list[PublicKey], keyrings: list[Keyring],
                    identity: str | None, keyless: Keyless | None = None) -> SignatureResult:
    """Crypto, then payload, then digest, then identity. A cosign signature that carries a
    Fulcio certificate is checked keylessly unless a given key verifies it."""
    identity_unchecked = False
    if c.kind == "cosign":
        annotations = dict(c.annotations)
        signer = next((k for k in keys if k.verify(c.signature, c.payload)), None)
        if signer is None and CERT_ANNOTATION in annotations:
            outcome = (keyless or Keyless()).cosign(annotations, payload=c.payload, signature=c.signature)
            if outcome.error is not None:
                return SignatureResult("cosign", c.source, Status.FAIL, outcome.message, outcome.error, outcome.signer)
            signer_label = outcome.signer
            identity_unchecked = not (keyless and keyless.policy.given)
        elif signer is None and not keys:
            return SignatureResult("cosign", c.source, Status.SKIP, "cosign signature, but no --key given to check it")
        elif signer is None:
            return SignatureResult("cosign", c.source, Status.FAIL,
                                   f"does not verify with any given key ({', '.join(k.label for k in keys)}): "
                                   "signed by another key, or the payload or signature was altered", "bad-signature")
        else:
            signer_label = f"{signer.label} (sha256:{signer.spki_sha256[:16]}…)"
        expected_type = COSIGN_TYPE
        payload_bytes = c.payload
    else:
        if not keyrings:
            return SignatureResult("simple-signing", c.source, Status.SKIP, "OpenPGP signature, but no --keyring given to check it")
        gpg = gpgv_verify(c.signature, keyrings)
        if not gpg.ok:
            error = "untrusted-key" if gpg.error == "expired-key" else gpg.error
            return SignatureResult("simple-signing", c.source, Status.FAIL, gpg.message, error, signer=gpg.fingerprint)
        expected_type = ATOMIC_TYPE
        signer_label = gpg.fingerprint
        payload_bytes = gpg.payload
    try:
        payload = parse_simple_signing(payload_bytes, expected_type)
    except PayloadError as err:
        return SignatureResult(c.kind, c.source, Status.FAIL, f"signed payload rejected: {err}", "unsupported-format", signer_label)
    if payload.manifest_digest not in digests:
        return SignatureResult(c.kind, c.source, Status.FAIL,
                               f"signature is for {payload.manifest_digest}, not for this image ({', '.join(digests)})",
                               "digest-mismatch", signer_label, payload.docker_reference, payload.manifest_digest)
    if identity is not None and not _identity_matches(payload.docker_reference, identity, c.kind == "cosign"):
        return SignatureResult(c.kind, c.source, Status.FAIL,
                               f"signed identity {payload.docker_reference!r} does not match {identity!r}",
                               "identity-mismatch", signer_label, payload.docker_reference, payload.manifest_digest)
    if identity_unchecked:
        return SignatureResult(c.kind, c.source, Status.WARN, UNCHECKED_IDENTITY, "identity-not-checked", signer_label,
                               payload.docker_reference, payload.manifest_digest)
    return SignatureResult(c.kind, c.source, Status.PASS, "valid signature for this image", None, signer_label,
                           payload.docker_reference, payload.manifest_digest)
