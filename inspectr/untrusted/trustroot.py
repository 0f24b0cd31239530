"""Strict parsing of a Sigstore trusted root (`trusted_root.json`): the log keys, CT log keys and
certificate authorities with the time windows in which each may be trusted. A user supplies
this file, so it is parsed like any other untrusted document; the keys are loaded by
verify/keyless.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .sigpayload import PayloadError, b64_field as _b64, load_strict_json

__all__ = ["LogKey", "CertAuthority", "TrustRootData", "parse_trusted_root", "TRUSTED_ROOT_MEDIA_TYPE"]

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
MAX_ENTRIES = 64


@dataclass(frozen=True, slots=True)
class LogKey:
    key_id: bytes  # sha256 of the key's SPKI DER, for Rekor and CT logs alike
    spki_der: bytes
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class CertAuthority:
    chain_der: tuple[bytes, ...]  # issuing certificate first, root last
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class TrustRootData:
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    authorities: tuple[CertAuthority, ...]


def _time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be an RFC 3339 time")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{what} is not an RFC 3339 time: {value[:40]!r}") from None
    if t.tzinfo is None:
        raise PayloadError(f"{what} has no time zone")
    return t.astimezone(timezone.utc)


def _window(doc: Any, what: str) -> tuple[datetime, datetime | None]:
    if not isinstance(doc, dict):
        raise PayloadError(f"{what}.validFor must be an object")
    end = doc.get("end")
    return _time(doc.get("start"), f"{what}.validFor.start"), (None if end is None else _time(end, f"{what}.validFor.end"))


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise PayloadError(f"trusted root: {key} must be a list of at most {MAX_ENTRIES}")
    return value


def _logs(doc: dict[str, Any], key: str) -> tuple[LogKey, ...]:
    out = []
    for i, item in enumerate(_list(doc, key)):
        what = f"trusted root: {key}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("publicKey"), dict) or not isinstance(item.get("logId"), dict):
            raise PayloadError(f"{what} needs publicKey and logId objects")
        key_doc = item["publicKey"]
        if "rawBytes" not in key_doc:
            continue  # a log whose key is not given cannot be checked against: leave it out
        start, end = _window(key_doc.get("validFor"), f"{what}.publicKey")
        out.append(LogKey(_b64(item["logId"].get("keyId"), f"{what}.logId.keyId"), _b64(key_doc["rawBytes"], f"{what}.publicKey.rawBytes"),
                          start, end))
    return tuple(out)


def parse_trusted_root(data: bytes) -> TrustRootData:
    doc = load_strict_json(data, "trusted root")
    if not isinstance(doc, dict):
        raise PayloadError("trusted root: expected an object")
    if doc.get("mediaType") != TRUSTED_ROOT_MEDIA_TYPE:
        raise PayloadError(f"trusted root: unsupported mediaType {str(doc.get('mediaType'))[:80]!r}")
    authorities = []
    for i, item in enumerate(_list(doc, "certificateAuthorities")):
        what = f"trusted root: certificateAuthorities[{i}]"
        chain = item.get("certChain") if isinstance(item, dict) else None
        certs = chain.get("certificates") if isinstance(chain, dict) else None
        if not isinstance(certs, list) or not certs or len(certs) > 8:
            raise PayloadError(f"{what}: certChain.certificates must list 1 to 8 certificates")
        ders = tuple(_b64(c.get("rawBytes") if isinstance(c, dict) else None, f"{what}.certChain") for c in certs)
        start, end = _window(item.get("validFor"), what)
        authorities.append(CertAuthority(ders, start, end))
    return TrustRootData(_logs(doc, "tlogs"), _logs(doc, "ctlogs"), tuple(authorities))
