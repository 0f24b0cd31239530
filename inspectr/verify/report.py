"""Values a verification returns: one Check per fact checked, and the report around them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Status", "Check", "SignatureResult", "VerificationReport", "COSIGN_SIGN_PREDICATE"]

COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
# --attestation names: cosign's short names for predicate types, and "any".
PREDICATE_ALIASES = {
    "slsaprovenance": ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v0.1", "https://slsa.dev/provenance/v1"),
    "slsaprovenance02": ("https://slsa.dev/provenance/v0.2",),
    "slsaprovenance1": ("https://slsa.dev/provenance/v1",),
    "spdxjson": ("https://spdx.dev/Document",),
    "cyclonedx": ("https://cyclonedx.org/bom",),
    "vuln": ("https://cosign.sigstore.dev/attestation/vuln/v1",),
    "custom": ("https://cosign.sigstore.dev/attestation/v1",),
}


def predicate_matches(wanted: str, predicate_type: str | None) -> bool:
    if predicate_type is None:
        return False
    return wanted == "any" or predicate_type == wanted or predicate_type in PREDICATE_ALIASES.get(wanted, ())


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    UNVERIFIABLE = "unverifiable"  # e.g. a digest algorithm inspectr cannot compute
    INFO = "info"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """`check` is a stable id (layer-digest, manifest-size, …); `error` the failure class."""

    check: str
    subject: str
    status: Status
    message: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "subject": self.subject, "status": self.status.value,
                "error": self.error, "message": self.message}


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """One signature found for the image, and what became of it."""

    kind: str  # cosign | simple-signing | sigstore-bundle | attestation
    source: str  # where it was found
    status: Status
    message: str
    error: str | None = None
    signer: str | None = None  # key fingerprint / key file that verified it
    identity: str | None = None  # docker-reference or subject in the payload
    digest: str | None = None  # the manifest digest the signature claims
    statement: bytes | None = field(default=None, repr=False, compare=False)  # a verified in-toto statement, kept for provenance checks
    certificate_identity: str | None = field(default=None, repr=False, compare=False)  # a keyless signer's SAN

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "status": self.status.value, "error": self.error,
                "message": self.message, "signer": self.signer, "identity": self.identity, "digest": self.digest}


@dataclass(slots=True)
class VerificationReport:
    reference: str
    format: str
    manifest_digests: list[str]
    checks: list[Check] = field(default_factory=list)
    signatures: list[SignatureResult] = field(default_factory=list)
    trust_required: bool = False  # keys/keyrings/policy were given: a valid signature is required
    policy: list[SignatureResult] | None = None  # one result per policy requirement, when --policy
    attestation: str | None = None  # --attestation: a verified attestation of this type is what is required
    provenance: list[Check] | None = None  # --source-uri & co: slsa-verifier's checks of the verified provenance
    sbom: list[Check] | None = None  # --sbom: the SBOMs held against the image's own inventory
    verdict: str = ""

    @property
    def integrity_ok(self) -> bool:
        return not any(c.status is Status.FAIL for c in self.checks)

    @property
    def signature_ok(self) -> bool:
        """A valid signature, not merely a valid attestation about the image; with --attestation,
        a valid attestation of that type."""
        if self.attestation is not None:
            return any(s.status is Status.PASS and s.statement is not None and predicate_matches(self.attestation, s.identity)
                       for s in self.signatures)
        return any(s.status is Status.PASS and (s.kind in ("cosign", "simple-signing") or
                                                (s.kind == "sigstore-bundle" and s.identity in (None, COSIGN_SIGN_PREDICATE)))
                   for s in self.signatures)

    def finish(self) -> "VerificationReport":
        if not self.integrity_ok:
            self.verdict = "integrity-failed"
        elif self.policy is not None:
            self.verdict = "verified" if all(p.status is Status.PASS for p in self.policy) else "policy-failed"
        elif self.provenance is not None and any(c.status is Status.FAIL for c in self.provenance):
            self.verdict = "provenance-failed"
        elif self.sbom is not None and any(c.status is Status.FAIL for c in self.sbom):
            self.verdict = "sbom-mismatch"
        elif self.trust_required and not self.signature_ok:
            found = [s for s in self.signatures if s.kind != "none"]
            self.verdict = "signature-failed" if found else "no-signature"
        elif self.trust_required:
            self.verdict = "verified"
        else:
            self.verdict = "integrity-verified"
        return self

    @property
    def ok(self) -> bool:
        return self.verdict in ("verified", "integrity-verified")
