"""Strict parsing of signature payloads and signature containers. Called only after the
cryptographic check passed (signatures.md §1a: crypto first, then the payload).

Rules follow containers/image's paranoid parser: exact member sets under `critical`, duplicate
keys rejected, integral timestamps.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .jsonload import parse_strict_json

__all__ = ["PayloadError", "b64_field", "load_strict_json", "SimpleSigningPayload", "parse_simple_signing", "parse_sigstore_json", "SIGSTORE_JSON_PREFIX",
           "normalise_docker_reference", "repository_of"]

SIGSTORE_JSON_PREFIX = b"\x00sigstore-json\n"
ATOMIC_TYPE = "atomic container signature"
COSIGN_TYPE = "cosign container image signature"


class PayloadError(ValueError):
    """The payload or container is not in the expected format."""


def b64_field(value: Any, what: str) -> bytes:
    """A JSON member that must be standard base64 (padded, no stray characters)."""
    if not isinstance(value, str):
        raise PayloadError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"{what} is not base64") from None


def load_strict_json(data: bytes, what: str) -> Any:
    if len(data) > 4 << 20:
        raise PayloadError(f"{what} is larger than 4 MiB")
    try:
        return parse_strict_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise PayloadError(f"{what} is not valid JSON: {err}") from None


def _exact(obj: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise PayloadError(f"{what} must be an object")
    if set(obj) != keys:
        extra, missing = sorted(set(obj) - keys), sorted(keys - set(obj))
        raise PayloadError(f"{what}: " + "; ".join(p for p in (extra and f"unknown members {extra}", missing and f"missing {missing}") if p))
    return obj


@dataclass(frozen=True, slots=True)
class SimpleSigningPayload:
    type: str
    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] | None


def parse_simple_signing(data: bytes, expected_type: str | None = None) -> SimpleSigningPayload:
    """The `critical`/`optional` JSON of simple signing (atomic) and cosign payloads."""
    doc = load_strict_json(data, "signature payload")
    top = _exact(doc, {"critical", "optional"}, "payload")
    critical = _exact(top["critical"], {"type", "image", "identity"}, "critical")
    sig_type = critical["type"]
    if sig_type not in (ATOMIC_TYPE, COSIGN_TYPE) or (expected_type is not None and sig_type != expected_type):
        raise PayloadError(f"critical.type is {sig_type!r}, expected {expected_type or ATOMIC_TYPE!r}")
    image = _exact(critical["image"], {"docker-manifest-digest"}, "critical.image")
    identity = _exact(critical["identity"], {"docker-reference"}, "critical.identity")
    digest, ref = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest, str) or not isinstance(ref, str):
        raise PayloadError("critical.image/identity values must be strings")
    optional = top["optional"]
    if optional is not None and not isinstance(optional, dict):
        raise PayloadError("optional must be an object or null")
    if isinstance(optional, dict):
        ts = optional.get("timestamp")
        if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
            raise PayloadError("optional.timestamp must be an integer")
        if "creator" in optional and not isinstance(optional["creator"], str):
            raise PayloadError("optional.creator must be a string")
    return SimpleSigningPayload(sig_type, ref, digest, optional)


@dataclass(frozen=True, slots=True)
class SigstoreJson:
    """containers/image's on-disk form of a sigstore signature (`\\0sigstore-json\\n{…}`)."""

    mime_type: str
    payload: bytes
    annotations: dict[str, str]


def parse_sigstore_json(data: bytes) -> SigstoreJson:
    if not data.startswith(SIGSTORE_JSON_PREFIX):
        raise PayloadError("not a sigstore-json signature")
    doc = load_strict_json(data[len(SIGSTORE_JSON_PREFIX):], "sigstore-json signature")
    if not isinstance(doc, dict):
        raise PayloadError("sigstore-json: expected an object")
    mime, payload, annotations = doc.get("mimeType"), doc.get("payload"), doc.get("annotations") or {}
    if not isinstance(mime, str) or not isinstance(payload, str) or not isinstance(annotations, dict):
        raise PayloadError("sigstore-json: needs mimeType, payload (base64) and annotations")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise PayloadError("sigstore-json: annotations must map strings to strings")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("sigstore-json: payload is not base64") from None
    return SigstoreJson(mime, raw, dict(annotations))


def normalise_docker_reference(ref: str) -> str:
    """docker/distribution normalisation: `busybox` -> `docker.io/library/busybox`."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    host, _, rest = name.partition("/")
    if host == "docker.io" and "/" not in rest.split("@", 1)[0].split(":", 1)[0]:
        name = f"docker.io/library/{rest}"
    return name


def repository_of(ref: str) -> str:
    """A normalised reference without its tag or digest."""
    ref = normalise_docker_reference(ref)
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)
    if ":" in last[-1]:
        ref = ref[: ref.rfind(":")]
    return ref
