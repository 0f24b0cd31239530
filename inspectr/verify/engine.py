"""verify_image: the integrity chain, then every signature found, against the trust inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..limits import Limits
from .integrity import check_integrity
from .keys import Keyring, PublicKey
from .report import SignatureResult, Status, VerificationReport
from .signatures import Candidate, check_candidate, find_in_dir, find_in_layout, find_in_path

__all__ = ["Trust", "verify_image"]


@dataclass(frozen=True)
class Trust:
    """Trust inputs. With none, only integrity is checked and signatures are listed."""

    keys: tuple[PublicKey, ...] = ()
    keyrings: tuple[Keyring, ...] = ()
    signatures: tuple[Path, ...] = ()
    identity: str | None = None
    require_signature: bool = field(default=False)

    @property
    def given(self) -> bool:
        return bool(self.keys or self.keyrings or self.require_signature)


def verify_image(reference: str, trust: Trust = Trust(), limits: Limits = Limits(), skip_blob_checks: bool = False) -> VerificationReport:
    """Check everything; never raises for a failed check (those are in the report). Raises
    InspectrError only for unusable input."""
    integrity = check_integrity(reference, limits, skip_blobs=skip_blob_checks)
    report = VerificationReport(reference, integrity.format, list(dict.fromkeys(integrity.manifest_digests)),
                                checks=integrity.checks, trust_required=trust.given)
    digests = report.manifest_digests
    candidates: list[Candidate] = []
    problems: list[str] = []
    if integrity.store is not None and integrity.index is not None:
        more, bad = find_in_layout(integrity.store, integrity.index, digests, limits)
        candidates += more
        problems += bad
    if integrity.transport == "dir" and integrity.path is not None:
        more, bad = find_in_dir(integrity.path)
        candidates += more
        problems += bad
    for path in trust.signatures:
        more, bad = find_in_path(path, digests, limits)
        candidates += more
        problems += bad
    for c in candidates:
        report.signatures.append(check_candidate(c, digests, list(trust.keys), list(trust.keyrings), trust.identity))
    for p in problems:
        report.signatures.append(SignatureResult("unknown", p.split(": ", 1)[0], Status.WARN, p, "unsupported-format"))
    if trust.given and not candidates:
        report.signatures.append(SignatureResult("none", reference, Status.FAIL, "no signature found for this image", "no-signature"))
    return report.finish()
