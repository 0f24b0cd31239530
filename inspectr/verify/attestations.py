"""Sigstore bundles and DSSE attestations attached to an image: OCI 1.1 referrers (found by a
subject scan of the layout and by the `sha256-<hex>` tag fallback), cosign `.att` manifests,
and BuildKit attestation manifests (listed as unsigned)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from ..digest import Digest
from ..errors import InspectrError
from ..limits import Limits
from ..model import Descriptor, Index, Manifest
from ..store import BlobStore
from ..untrusted.documents import read_descriptor
from ..untrusted.bundle import (
    BUNDLE_MEDIA_TYPES,
    DSSE_MEDIA_TYPE,
    Envelope,
    MessageSignature,
    pae,
    parse_bundle,
    parse_envelope,
    parse_statement,
)
from ..untrusted.jsonload import load_json
from ..userfiles import POLICY_MAX_BYTES, read_user_file
from ..untrusted.sigpayload import PayloadError, load_strict_json
from .keyless import CERT_ANNOTATION, Keyless
from .keys import PublicKey
from .signatures import UNCHECKED_IDENTITY
from .report import SignatureResult, Status

__all__ = ["Attachment", "find_attachments", "check_attachment", "attachment_from_file"]


@dataclass(frozen=True)
class Attachment:
    kind: str  # sigstore-bundle | dsse | buildkit-attestation
    source: str
    media_type: str
    data: bytes = b""
    note: str = ""
    annotations: tuple[tuple[str, str], ...] = ()


def _layer_bytes(store: BlobStore, desc: Descriptor, what: str, limits: Limits) -> bytes:
    if desc.size > 4 << 20:
        raise PayloadError(f"{what}: larger than 4 MiB")
    blob = store.blob(desc.digest, what)
    with blob.open() as fp:
        data = fp.read(desc.size + 1)
    if len(data) != desc.size or hashlib.new(desc.digest.algorithm, data).hexdigest() != desc.digest.encoded:
        raise PayloadError(f"{what}: blob does not match its descriptor")
    return data


def _from_manifest(store: BlobStore, manifest: Manifest, source: str, limits: Limits) -> list[Attachment | str]:
    out: list[Attachment | str] = []
    for i, layer in enumerate(manifest.layers):
        where = f"{source} layers[{i}]"
        if layer.media_type in BUNDLE_MEDIA_TYPES or layer.media_type == DSSE_MEDIA_TYPE:
            try:
                data = _layer_bytes(store, layer, where, limits)
            except (PayloadError, InspectrError) as err:
                out.append(f"{where}: {err}")
                continue
            kind = "sigstore-bundle" if layer.media_type in BUNDLE_MEDIA_TYPES else "dsse"
            out.append(Attachment(kind, where, layer.media_type, data, annotations=tuple(sorted(layer.annotations.items()))))
    return out


def attachment_from_file(path: Path) -> Attachment | None:
    """--signatures FILE holding a DSSE envelope (an attestation kept beside the image, such as
    the gate's signed verdict); None when the file is something else."""
    if not path.is_file():
        return None
    data = read_user_file(path, "signature file", POLICY_MAX_BYTES)
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        doc = load_strict_json(data, str(path))
    except PayloadError:
        return None
    if not isinstance(doc, dict) or "payloadType" not in doc or "signatures" not in doc:
        return None
    return Attachment("dsse", str(path), DSSE_MEDIA_TYPE, data)


def find_attachments(store: BlobStore, index: Index | None, manifests: dict[str, bytes], digests: list[str],
                     limits: Limits) -> list[Attachment | str]:
    """Everything attached to one of `digests`. Problems come back as strings."""
    found: list[Attachment | str] = []
    wanted = set(digests)
    seen: set[str] = set()

    def visit(desc: Descriptor, source: str) -> None:
        if str(desc.digest) in seen:
            return
        seen.add(str(desc.digest))
        try:
            _, doc = read_descriptor(store, desc, "attachment manifest", limits)
        except InspectrError as err:
            found.append(f"{source}: {err.message}")
            return
        if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):  # a tag-schema index
            try:
                for i, sub in enumerate(Index.from_json(doc, source).manifests):
                    visit(sub, f"{source} manifests[{i}]")
            except InspectrError as err:
                found.append(f"{source}: {err.message}")
            return
        try:
            manifest = Manifest.from_json(doc, source)
        except InspectrError as err:
            found.append(f"{source}: {err.message}")
            return
        found.extend(_from_manifest(store, manifest, source, limits))

    # 1. Referrers: any manifest in the layout whose subject is the image (subject scan), also
    # among blobs that index.json does not list (referrers are often stored only as blobs).
    manifests = dict(manifests)
    listing = getattr(store, "list_blobs", None)
    for name in sorted(listing() if listing else ()):
        if name in manifests or not name.startswith("sha256:"):
            continue
        try:
            blob = store.blob(Digest("sha256", name[7:]), "blob")
            if blob.length > 64 << 10:
                continue
            with blob.open() as fp:
                data = fp.read()
        except InspectrError:
            continue
        if hashlib.sha256(data).hexdigest() == name[7:] and b'"subject"' in data:
            manifests[name] = data
    for digest, data in manifests.items():
        try:
            doc = load_json(data, digest, limits)
        except InspectrError:
            continue
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if isinstance(subject, dict) and subject.get("digest") in wanted and digest not in seen:
            seen.add(digest)
            try:
                found.extend(_from_manifest(store, Manifest.from_json(doc, digest), f"referrer {digest}", limits))
            except InspectrError as err:
                found.append(f"referrer {digest}: {err.message}")
    if index is None:
        return found
    tags = {d.replace(":", "-"): "referrers tag" for d in digests}
    tags.update({f"{d.replace(':', '-')}.att": "cosign .att" for d in digests})
    for desc in index.manifests:
        name = desc.annotations.get("org.opencontainers.image.ref.name", "")
        kind = desc.annotations.get("kind", "")
        if name in tags or kind == "dev.cosignproject.cosign/atts":
            visit(desc, f"{tags.get(name, 'cosign save atts')} {name or desc.digest}")
    # 3. BuildKit attestation manifests: listed, never trusted (they carry no signature).
    for digest, data in manifests.items():
        try:
            doc = load_json(data, digest, limits)
        except InspectrError:
            continue
        listed = doc.get("manifests") if isinstance(doc, dict) else None
        for desc in listed if isinstance(listed, list) else []:
            ann = desc.get("annotations") if isinstance(desc, dict) else None
            if not isinstance(ann, dict):
                continue  # the image's data, of the wrong shape: not an attestation manifest
            if ann.get("vnd.docker.reference.type") == "attestation-manifest" and ann.get("vnd.docker.reference.digest") in wanted:
                found.append(Attachment("buildkit-attestation", f"index {digest} → {desc.get('digest')}",
                                        str(desc.get("mediaType")), note="BuildKit attestation manifest (unsigned provenance/SBOM)"))
    return found


def _verify_prehashed(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    k = key.key
    if isinstance(k, ec.EllipticCurvePublicKey):
        try:
            k.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            return True
        except InvalidSignature:
            return False
    return False


def _statement_result(a: Attachment, payload: bytes, digests: list[str], signer: str | None,
                      unchecked: bool = False, san: str | None = None) -> SignatureResult:
    """The signed in-toto statement must name this image as its subject."""
    try:
        statement = parse_statement(payload)
    except PayloadError as err:
        return SignatureResult(a.kind, a.source, Status.FAIL, f"signed payload rejected: {err}", "unsupported-format", signer)
    matching = [d for d in statement.subject_digests if d in digests]
    if not matching:
        return SignatureResult(a.kind, a.source, Status.FAIL,
                               f"in-toto subject {', '.join(statement.subject_digests)} is not this image", "digest-mismatch", signer)
    if unchecked:
        return SignatureResult(a.kind, a.source, Status.WARN, UNCHECKED_IDENTITY, "identity-not-checked", signer,
                               identity=statement.predicate_type, digest=matching[0], statement=payload, certificate_identity=san)
    return SignatureResult(a.kind, a.source, Status.PASS, f"valid attestation ({statement.predicate_type})", None,
                           signer, identity=statement.predicate_type, digest=matching[0], statement=payload, certificate_identity=san)


def _check_keyless(a: Attachment, content: Envelope | MessageSignature, digests: list[str], keyless: Keyless) -> SignatureResult:
    unchecked = not keyless.policy.given
    if a.kind == "sigstore-bundle":
        artifact = None
        if isinstance(content, MessageSignature):
            claimed = f"sha256:{content.digest.hex()}"
            if claimed not in digests:
                return SignatureResult(a.kind, a.source, Status.FAIL, f"bundle signs {claimed}, not this image", "digest-mismatch",
                                       digest=claimed)
            artifact = content.digest
        outcome = keyless.bundle(a.data, artifact)
        if outcome.error is not None:
            return SignatureResult(a.kind, a.source, Status.FAIL, outcome.message, outcome.error, outcome.signer)
        if isinstance(content, MessageSignature):
            status = Status.WARN if unchecked else Status.PASS
            return SignatureResult(a.kind, a.source, status, UNCHECKED_IDENTITY if unchecked else "valid keyless message signature for this image",
                                   "identity-not-checked" if unchecked else None, outcome.signer, digest=f"sha256:{content.digest.hex()}")
        return _statement_result(a, outcome.payload, digests, outcome.signer, unchecked, outcome.san)
    assert isinstance(content, Envelope)
    outcome = keyless.cosign(dict(a.annotations), envelope=content, envelope_raw=a.data)
    if outcome.error is not None:
        return SignatureResult(a.kind, a.source, Status.FAIL, outcome.message, outcome.error, outcome.signer)
    return _statement_result(a, outcome.payload, digests, outcome.signer, unchecked, outcome.san)


def check_attachment(a: Attachment, digests: list[str], keys: list[PublicKey], keyless: Keyless | None = None) -> SignatureResult:
    if a.kind == "buildkit-attestation":
        return SignatureResult(a.kind, a.source, Status.INFO, a.note)
    try:
        if a.kind == "sigstore-bundle":
            _, content, material = parse_bundle(a.data, a.media_type)
        else:
            content, material = parse_envelope(load_strict_json(a.data, "DSSE envelope")), {}
    except PayloadError as err:
        return SignatureResult(a.kind, a.source, Status.FAIL, str(err), "unsupported-format")
    has_certificate = any(k in material for k in ("certificate", "x509CertificateChain")) or CERT_ANNOTATION in dict(a.annotations)
    if has_certificate and not keys:
        return _check_keyless(a, content, digests, keyless or Keyless())
    if not keys:
        return SignatureResult(a.kind, a.source, Status.SKIP, "signed attachment, but no --key given to check it")
    if isinstance(content, MessageSignature):
        signer = next((k for k in keys if _verify_prehashed(k, content.signature, content.digest)), None)
        if signer is None:
            return SignatureResult(a.kind, a.source, Status.FAIL, "message signature does not verify with any given key", "bad-signature")
        claimed = f"sha256:{content.digest.hex()}"
        if claimed not in digests:
            return SignatureResult(a.kind, a.source, Status.FAIL, f"bundle signs {claimed}, not this image", "digest-mismatch",
                                   signer.label, digest=claimed)
        return SignatureResult(a.kind, a.source, Status.PASS, "valid message signature for this image", None, signer.label, digest=claimed)
    assert isinstance(content, Envelope)
    message = pae(content.payload_type, content.payload)
    signer = next((k for k in keys for sig, _ in content.signatures if k.verify(sig, message)), None)
    if signer is None:
        if has_certificate:
            return _check_keyless(a, content, digests, keyless or Keyless())
        return SignatureResult(a.kind, a.source, Status.FAIL, "DSSE signature does not verify with any given key", "bad-signature")
    return _statement_result(a, content.payload, digests, signer.label)
