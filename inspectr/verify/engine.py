"""verify_image: the integrity chain, then every signature found, against the trust inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dataclasses

from ..limits import Limits
from ..session import Session
from ..errors import InspectrError
from ..store import PULLED_FROM, Container
from .integrity import IntegrityResult, check_integrity
from ..untrusted.sigpayload import PayloadError
from .keyless import IdentityPolicy, Keyless
from .provenance import ProvenanceExpectation, attested_provenance, check_provenance, summary as provenance_summary
from .keys import Keyring, PublicKey
from ..packages.inventory import image_inventory
from .sbom import SbomSource, attested_sboms, sbom_checks
from .report import Check, SignatureResult, Status, VerificationReport
from .attestations import attachment_from_file, check_attachment, find_attachments
from .policy import evaluate, load_policy
from .signatures import Candidate, check_candidate, find_in_dir, find_in_layout, find_in_path, open_signature_layout

__all__ = ["Trust", "verify_image", "attached_provenance"]


@dataclass(frozen=True)
class Trust:
    """Trust inputs. With none, only integrity is checked and signatures are listed."""

    keys: tuple[PublicKey, ...] = ()
    keyrings: tuple[Keyring, ...] = ()
    signatures: tuple[Path, ...] = ()
    identity: str | None = None
    require_signature: bool = field(default=False)
    policy: Path | None = None
    identity_policy: IdentityPolicy = IdentityPolicy()
    trusted_root: Path | None = None  # None: public-good Sigstore's, as the sigstore package ships it
    attestation: str | None = None  # require a verified attestation of this predicate type instead of a signature
    provenance: ProvenanceExpectation | None = None  # --source-uri & co: check verified SLSA provenance like slsa-verifier
    # --sbom: compare the image's verified SBOM attestations (and these files: name, bytes) with its contents
    sbom: bool = False
    sbom_files: tuple[tuple[str, bytes], ...] = ()
    platform: str | None = None  # the image whose contents --sbom compares, in a multi-platform index

    @property
    def given(self) -> bool:
        return bool(self.keys or self.keyrings or self.require_signature or self.policy or self.identity_policy.given
                    or self.attestation or self.provenance)


def _image_digests(container: Container, integrity: IntegrityResult, required: bool) -> list[str]:
    """The digests a signature may name: those of the one image the reference selects (by the
    same name rule as every command), never those of other images or artifacts in the layout.
    With no name and no trust input, a container of several images is checked for integrity
    only; a name that matches nothing is a ReferenceError_, whatever the trust input."""
    if container.ref is None and not required:
        hits = container.select()
        if len({e.position for e in hits}) != 1:
            return []
    entry = container.select_one()
    if entry.descriptor is None:
        return []  # a legacy docker save entry has no manifest to sign
    top = str(entry.descriptor.digest)
    return list(dict.fromkeys(integrity.chains.get(top, [top])))


def _pulled_from(container: Container) -> str | None:
    """The reference a local copy was pulled from (recorded by `inspectr pull`), so trust does
    not loosen when an image is verified offline instead of from its registry."""
    try:
        entry = container.select_one()
    except InspectrError:
        return None
    return entry.descriptor.annotations.get(PULLED_FROM) if entry.descriptor is not None else None


def verify_image(reference: str | Container, trust: Trust = Trust(), limits: Limits | None = None, *, session: Session | None = None,
                 skip_blob_checks: bool = False) -> VerificationReport:
    """Check everything; never raises for a failed check (those are in the report). Raises
    InspectrError only for unusable input, or a reference that names no image."""
    session = session or Session(limits=limits or Limits())
    if limits is not None:
        session = dataclasses.replace(session, limits=limits)
    limits = session.limits
    container = reference if isinstance(reference, Container) else session.open_container(reference, attachments=True)
    reference = container.reference
    integrity = check_integrity(container, session=session, skip_blobs=skip_blob_checks)
    digests = _image_digests(container, integrity, trust.given)
    report = VerificationReport(reference, integrity.format, digests, checks=integrity.checks, trust_required=trust.given,
                                attestation=trust.attestation or ("slsaprovenance" if trust.provenance else None))
    candidates: list[Candidate] = []
    problems: list[str] = []
    if container.index is not None and container.transport != "dir":
        more, bad = find_in_layout(container.store, container.index, digests, limits)
        candidates += more
        problems += bad
    if container.transport == "dir":
        more, bad = find_in_dir(Path(container.path))
        candidates += more
        problems += bad
    extra_layouts = []
    file_attachments = []
    for path in trust.signatures:
        attachment = attachment_from_file(path)
        if attachment is not None:
            file_attachments.append(attachment)
            continue
        more, bad = find_in_path(path, digests, session)
        candidates += more
        problems += bad
        layout = open_signature_layout(path, session)
        if layout is not None:
            extra_layouts.append(layout)
    # A registry image has a reference of its own: signed identities are checked against it.
    registry_ref = container.path if container.transport == "docker" else None
    identity = trust.identity or registry_ref or _pulled_from(container)
    keyless = Keyless(trust.identity_policy, trust.trusted_root)
    if trust.trusted_root is not None:
        keyless.root()  # a root the user named must be usable, whether or not a keyless signature turns up
    for c in candidates:
        report.signatures.append(check_candidate(c, digests, list(trust.keys), list(trust.keyrings), identity, keyless))
    layouts = [(container.store, container.index, integrity.manifests)] if container.transport != "dir" else []
    for extra_store, extra_index in extra_layouts:  # --signatures layouts: referrers there count too
        layouts.append((extra_store, extra_index, {}))
    for store, index, manifests in layouts:
        for item in find_attachments(store, index, manifests, digests, limits):
            if isinstance(item, str):
                problems.append(item)
            else:
                candidates.append(item)  # type: ignore[arg-type]
                report.signatures.append(check_attachment(item, digests, list(trust.keys), keyless))
    for attachment in file_attachments:
        candidates.append(attachment)  # type: ignore[arg-type]
        report.signatures.append(check_attachment(attachment, digests, list(trust.keys), keyless))
    for p in problems:
        report.signatures.append(SignatureResult("unknown", p.split(": ", 1)[0], Status.WARN, p, "unsupported-format"))
    if trust.policy is not None:
        policy = load_policy(trust.policy, container.transport, registry_ref or container.path)
        report.policy = evaluate(policy, [c for c in candidates if isinstance(c, Candidate)], digests, identity)
    elif trust.given and not candidates:
        report.signatures.append(SignatureResult("none", reference, Status.FAIL, "no signature found for this image", "no-signature"))
    if trust.provenance is not None:
        report.provenance = _provenance_checks(report, trust.provenance)
    if trust.sbom or trust.sbom_files:
        inventory = image_inventory(session.open_image(container, trust.platform), session=session)
        sources = attested_sboms(report.signatures) + [SbomSource(f"file {name}", data, False)
                                                        for name, data in trust.sbom_files]
        report.sbom = sbom_checks(sources, inventory)
    return report.finish()


def _provenance_checks(report: VerificationReport, expect: ProvenanceExpectation) -> list[Check]:
    """slsa-verifier's checks over every verified SLSA provenance attestation of the image; at
    least one must pass them all."""
    results: list[list[Check]] = []
    for s, prov in attested_provenance(report.signatures):
        if isinstance(prov, PayloadError):
            results.append([Check("provenance-parse", s.source, Status.FAIL, str(prov), "invalid-provenance")])
            continue
        builder = s.certificate_identity if s.certificate_identity and "://" in s.certificate_identity else None  # a workflow, not an e-mail
        wanted = dataclasses.replace(expect, subject_digest=s.digest, certificate_builder_id=builder)
        results.append([c.to_check(s.source) for c in check_provenance(prov, wanted)])
    if not results:
        return [Check("provenance", report.reference, Status.FAIL, "no verified SLSA provenance attestation for this image",
                      "no-provenance")]
    passing = [r for r in results if all(c.status is not Status.FAIL for c in r)]
    return passing[0] if passing else results[0]


def attached_provenance(container: Container, session: Session, trust: Trust = Trust()) -> list[dict[str, Any]]:
    """The SLSA provenance attached to the image, for `inspect`: each with how far its signature
    was checked (`verified`, or the reason it was not, such as identity-not-checked) and its
    summary (builder, source, commit, base images, build arguments; secrets redacted). Unsigned
    or unreadable attachments are not shown as provenance. Reads manifests and small blobs only."""
    try:
        report = verify_image(container, trust, session=session, skip_blob_checks=True)
    except InspectrError:
        return []
    out: list[dict[str, Any]] = []
    for s, prov in attested_provenance(report.signatures, verified_only=False):
        head = {"attestation": s.source, "signature": "verified" if s.status is Status.PASS else (s.error or s.status.value),
                "signer": s.signer}
        out.append({**head, "error": str(prov)} if isinstance(prov, PayloadError) else {**head, **provenance_summary(prov)})
    return out
