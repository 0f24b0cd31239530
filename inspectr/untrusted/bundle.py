"""Strict parsing of sigstore bundles, DSSE envelopes and in-toto statements (signatures.md
§1b, §1d). Parsing only; the signature is checked by the caller with `cryptography`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .sigpayload import PayloadError, load_strict_json

__all__ = ["BUNDLE_MEDIA_TYPES", "DSSE_MEDIA_TYPE", "Envelope", "MessageSignature", "parse_bundle", "parse_envelope",
           "pae", "Statement", "parse_statement"]

BUNDLE_MEDIA_TYPES = frozenset({
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
})
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows URL-safe base64
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise PayloadError(f"{what} is not base64") from None


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[bytes, str | None], ...]  # (signature, keyid)


@dataclass(frozen=True)
class MessageSignature:
    algorithm: str
    digest: bytes
    signature: bytes


def parse_envelope(doc: Any, what: str = "DSSE envelope") -> Envelope:
    if not isinstance(doc, dict):
        raise PayloadError(f"{what}: expected an object")
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str):
        raise PayloadError(f"{what}: payloadType must be a string")
    sigs = doc.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise PayloadError(f"{what}: needs at least one signature")
    out = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict):
            raise PayloadError(f"{what}: signatures[{i}] must be an object")
        keyid = s.get("keyid")
        out.append((_b64(s.get("sig"), f"{what}: signatures[{i}].sig"), keyid if isinstance(keyid, str) else None))
    return Envelope(payload_type, _b64(doc.get("payload"), f"{what}: payload"), tuple(out))


def parse_bundle(data: bytes, media_type: str) -> tuple[str, Envelope | MessageSignature, dict[str, Any]]:
    """(bundle mediaType, content, verificationMaterial)."""
    doc = load_strict_json(data, "sigstore bundle")
    if not isinstance(doc, dict):
        raise PayloadError("sigstore bundle: expected an object")
    declared = doc.get("mediaType")
    if declared not in BUNDLE_MEDIA_TYPES:
        raise PayloadError(f"sigstore bundle: unsupported mediaType {declared!r}")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise PayloadError("sigstore bundle: verificationMaterial must be an object")
    has_dsse, has_msg = "dsseEnvelope" in doc, "messageSignature" in doc
    if has_dsse == has_msg:
        raise PayloadError("sigstore bundle: needs exactly one of dsseEnvelope and messageSignature")
    if has_dsse:
        return declared, parse_envelope(doc["dsseEnvelope"], "sigstore bundle dsseEnvelope"), material
    msg = doc["messageSignature"]
    if not isinstance(msg, dict) or not isinstance(msg.get("messageDigest"), dict):
        raise PayloadError("sigstore bundle: messageSignature needs messageDigest")
    algorithm = msg["messageDigest"].get("algorithm")
    if algorithm != "SHA2_256":
        raise PayloadError(f"sigstore bundle: unsupported message digest algorithm {algorithm!r}")
    return declared, MessageSignature(algorithm, _b64(msg["messageDigest"].get("digest"), "messageDigest.digest"),
                                      _b64(msg.get("signature"), "messageSignature.signature")), material


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: lengths are ASCII decimal byte counts."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Statement:
    predicate_type: str
    subject_digests: tuple[str, ...]  # "sha256:<hex>" forms


def parse_statement(payload: bytes) -> Statement:
    doc = load_strict_json(payload, "in-toto statement")
    if not isinstance(doc, dict) or not isinstance(doc.get("_type"), str) or "in-toto.io/Statement" not in doc["_type"]:
        raise PayloadError("not an in-toto Statement")
    predicate_type = doc.get("predicateType")
    subjects = doc.get("subject")
    if not isinstance(predicate_type, str) or not isinstance(subjects, list) or not subjects:
        raise PayloadError("in-toto Statement needs predicateType and a non-empty subject list")
    digests = []
    for i, s in enumerate(subjects):
        if not isinstance(s, dict) or not isinstance(s.get("digest"), dict):
            raise PayloadError(f"in-toto subject[{i}] needs a digest map")
        for alg, value in s["digest"].items():
            if isinstance(value, str):
                digests.append(f"{alg}:{value.lower()}")
    return Statement(predicate_type, tuple(digests))
