"""Strict parsing of the Rekor material that cosign stores beside a keyless signature: the
`dev.sigstore.cosign/bundle` annotation (a signed entry timestamp over an entry) and the entry
bodies it names (hashedrekord, dsse, intoto). Parsing only; keys and hashes are checked by
verify/keyless.py."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .sigpayload import PayloadError, b64_field as _b64, load_strict_json

__all__ = ["SignedEntry", "EntryBody", "parse_cosign_bundle", "parse_entry_body", "canonical_set_payload"]

MAX_BODY = 1 << 20


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} must be an object")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PayloadError(f"{what} must be a non-negative integer")
    return value


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """A log entry as cosign records it: the body and where the log put it, plus the log's
    signature over those four values (the SET)."""

    body: bytes
    integrated_time: int
    log_index: int
    log_id: str  # hex sha256 of the log key
    set_signature: bytes


def parse_cosign_bundle(data: str) -> SignedEntry:
    doc = _obj(load_strict_json(data.encode("utf-8"), "cosign bundle annotation"), "cosign bundle annotation")
    payload = _obj(doc.get("Payload"), "cosign bundle Payload")
    log_id = payload.get("logID")
    if not isinstance(log_id, str) or len(log_id) != 64 or any(c not in "0123456789abcdef" for c in log_id):
        raise PayloadError("cosign bundle Payload.logID must be 64 lower-case hex digits")
    body = _b64(payload.get("body"), "cosign bundle Payload.body")
    if len(body) > MAX_BODY:
        raise PayloadError("cosign bundle Payload.body is larger than 1 MiB")
    return SignedEntry(body, _int(payload.get("integratedTime"), "cosign bundle Payload.integratedTime"),
                       _int(payload.get("logIndex"), "cosign bundle Payload.logIndex"), log_id,
                       _b64(doc.get("SignedEntryTimestamp"), "cosign bundle SignedEntryTimestamp"))


def canonical_set_payload(entry: SignedEntry) -> bytes:
    """What the log signed: the four values as canonical JSON (sorted keys, no spaces)."""
    doc = {"body": base64.b64encode(entry.body).decode(), "integratedTime": entry.integrated_time,
           "logID": entry.log_id, "logIndex": entry.log_index}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class EntryBody:
    """What an entry commits to. Hashes are lower-case hex sha256; certificates are PEM bytes."""

    kind: str  # hashedrekord | dsse | intoto
    version: str
    signatures: tuple[bytes, ...]  # raw signature bytes; empty where the kind does not record them
    certificates: tuple[bytes, ...]
    data_sha256: str | None = None  # hashedrekord: the signed bytes
    payload_sha256: str | None = None  # dsse / intoto: the envelope's payload
    envelope_sha256: str | None = None  # dsse / intoto: the envelope as stored


def _hash(value: Any, what: str) -> str:
    h = _obj(value, what)
    if h.get("algorithm") != "sha256":
        raise PayloadError(f"{what}: unsupported algorithm {h.get('algorithm')!r}")
    v = h.get("value")
    if not isinstance(v, str) or len(v) != 64:
        raise PayloadError(f"{what}: value must be 64 hex digits")
    return v.lower()


def parse_entry_body(body: bytes) -> EntryBody:
    doc = _obj(load_strict_json(body, "log entry body"), "log entry body")
    kind, version = doc.get("kind"), doc.get("apiVersion")
    spec = _obj(doc.get("spec"), "log entry spec")
    if kind == "hashedrekord" and version == "0.0.1":
        sig = _obj(spec.get("signature"), "hashedrekord signature")
        key = _obj(sig.get("publicKey"), "hashedrekord publicKey")
        return EntryBody(kind, version, (_b64(sig.get("content"), "hashedrekord signature"),),
                         (_b64(key.get("content"), "hashedrekord publicKey"),),
                         data_sha256=_hash(_obj(spec.get("data"), "hashedrekord data").get("hash"), "hashedrekord data.hash"))
    if kind == "dsse" and version == "0.0.1":
        sigs = spec.get("signatures")
        if not isinstance(sigs, list) or not sigs or len(sigs) > 16:
            raise PayloadError("dsse entry needs 1 to 16 signatures")
        pairs = [_obj(s, "dsse signature") for s in sigs]
        return EntryBody(kind, version, tuple(_b64(p.get("signature"), "dsse signature") for p in pairs),
                         tuple(_b64(p.get("verifier"), "dsse verifier") for p in pairs),
                         payload_sha256=_hash(spec.get("payloadHash"), "dsse payloadHash"))
    if kind == "intoto" and version in ("0.0.1", "0.0.2"):
        content = _obj(spec.get("content"), "intoto content")
        certs: list[bytes] = []
        signatures: list[bytes] = []
        if version == "0.0.1":
            certs.append(_b64(spec.get("publicKey"), "intoto publicKey"))
        else:
            envelope = _obj(content.get("envelope"), "intoto envelope")
            sigs = envelope.get("signatures")
            if not isinstance(sigs, list) or not sigs or len(sigs) > 16:
                raise PayloadError("intoto envelope needs 1 to 16 signatures")
            for s in sigs:
                s = _obj(s, "intoto signature")
                certs.append(_b64(s.get("publicKey"), "intoto signature publicKey"))
                # 0.0.2 stores the envelope's base64 signature base64-encoded once more.
                signatures.append(_b64(_b64(s.get("sig"), "intoto signature").decode("ascii", "replace"), "intoto signature"))
        # 0.0.1 records no signature: the envelope hash is what binds it, over the stored bytes.
        # 0.0.2 hashes the log's own re-serialisation, which cannot be recomputed; its signatures bind.
        return EntryBody(kind, version, tuple(signatures), tuple(certs),
                         payload_sha256=_hash(content.get("payloadHash"), "intoto payloadHash"),
                         envelope_sha256=_hash(content.get("hash"), "intoto hash") if version == "0.0.1" else None)
    raise PayloadError(f"unsupported log entry kind {kind!r} version {version!r}")
