"""The identity claims a Fulcio certificate carries: its subject alternative name and the
Sigstore OID extensions (1.3.6.1.4.1.57264.1.*), decoded strictly. The certificate itself is
parsed by `cryptography`; this reads the values it leaves as raw bytes."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

__all__ = ["Claims", "read_claims", "FULCIO_OID"]

FULCIO_OID = "1.3.6.1.4.1.57264.1"
# v1 extensions hold the raw UTF-8 value; v2 extensions (.8 onwards) a DER UTF8String.
_V1 = {1: "issuer", 2: "github_trigger", 3: "github_sha", 4: "github_workflow", 5: "github_repository", 6: "github_ref"}
_V2 = {8: "issuer", 9: "build_signer_uri", 12: "source_repository_uri", 13: "source_repository_digest", 14: "source_repository_ref",
       20: "build_trigger", 21: "run_invocation_uri"}
MAX_VALUE = 4096


@dataclass(frozen=True, slots=True)
class Claims:
    san: str | None = None
    issuer: str | None = None
    github_trigger: str | None = None
    github_sha: str | None = None
    github_workflow: str | None = None
    github_repository: str | None = None
    github_ref: str | None = None
    build_signer_uri: str | None = None
    source_repository_uri: str | None = None
    source_repository_digest: str | None = None
    source_repository_ref: str | None = None
    build_trigger: str | None = None
    run_invocation_uri: str | None = None

    def get(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        return value


def _utf8string(der: bytes) -> str | None:
    """A DER UTF8String (tag 12) with a short or long length; anything else is None."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 2 or len(der) < 2 + n:
            return None
        length, offset = int.from_bytes(der[2:2 + n], "big"), 2 + n
    if offset + length != len(der):
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _san(cert: x509.Certificate) -> str | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier):
        names = ext.get_values_for_type(kind)
        if names:
            return str(names[0])
    for other in ext.get_values_for_type(x509.OtherName):  # Fulcio's username form: a UTF8String inside
        value = _utf8string(other.value)
        if value is not None:
            return value
    return None


def read_claims(cert: x509.Certificate) -> Claims:
    values: dict[str, str] = {}
    for number, name in {**_V1, **_V2}.items():
        try:
            ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(f"{FULCIO_OID}.{number}"))
        except x509.ExtensionNotFound:
            continue
        raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        if not raw or len(raw) > MAX_VALUE:
            continue
        if number in _V1:
            try:
                text: str | None = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        else:
            text = _utf8string(raw)
        if text is not None:
            values[name] = text  # _V2 comes second, so its issuer wins over the deprecated v1 one
    # The v1 GitHub claims are deprecated; newer certificates carry only the v2 forms.
    if "github_repository" not in values and values.get("source_repository_uri", "").startswith("https://github.com/"):
        values["github_repository"] = values["source_repository_uri"][len("https://github.com/"):]
    for old, new in (("github_sha", "source_repository_digest"), ("github_ref", "source_repository_ref"),
                     ("github_trigger", "build_trigger")):
        if old not in values and new in values:
            values[old] = values[new]
    return Claims(san=_san(cert), **values)
