"""gate: one verdict for CI. In order: the release's signature and integrity, the rebuild's
integrity, the diff under the policy's accepted differences, the audit threshold, behaviour."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..audit.engine import audit_image
from ..audit.findings import Severity
from ..packages.integrity import check_image
from ..diff.difference import SEMANTIC_IGNORABLE, Change, Difference
from ..diff.engine import compare_images, index_pair
from ..diff.options import DiffOptions
from ..errors import InspectrError
from ..fs.build import index_checked
from ..image import Image
from ..session import Session
from ..store import Container
from ..runtime.behave import Probe, behave
from ..runtime.spec import RuntimeError_
from ..untrusted.provenance import Provenance
from ..verify.engine import Trust, verify_image
from ..verify.keys import load_keyring, load_public_key
from ..verify.provenance import attested_provenance, compare_provenance, rebuild_recipe
from ..verify.report import Status, VerificationReport
from .policy import GatePolicy

__all__ = ["GateCheck", "GateReport", "run_gate", "VERDICTS"]

VERDICTS = ("reproduced", "equivalent", "not-reproduced", "untrusted")


@dataclass(slots=True)
class GateCheck:
    """One test case of the gate (also one JUnit testcase)."""

    id: str
    name: str
    status: str  # pass | fail | skip
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "message": self.message, "details": self.details}


@dataclass(slots=True)
class GateReport:
    release: str
    rebuild: str
    verdict: str
    reasons: list[str]
    checks: list[GateCheck]
    difference: Difference | None = None
    release_verification: VerificationReport | None = None
    rebuild_verification: VerificationReport | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in ("reproduced", "equivalent")

    @property
    def accepted(self) -> list[Change]:
        return [c for c in self.difference.changes if c.accepted] if self.difference else []

    @property
    def unaccepted(self) -> list[Change]:
        return self.difference.unaccepted if self.difference else []


def _verification_check(cid: str, name: str, report: VerificationReport, signatures: bool) -> GateCheck:
    failed = [c for c in report.checks if c.status is Status.FAIL]
    if signatures:
        good = [s for s in report.signatures if s.status is Status.PASS]
        bad = [s for s in report.signatures if s.status is Status.FAIL]
        ok = report.signature_ok
        message = (f"valid signature by {good[0].signer} for {good[0].identity}" if ok and good else
                   "; ".join(f"{s.error}: {s.message}" for s in bad) or "no signature found for the release")
        return GateCheck(cid, name, "pass" if ok else "fail", message,
                         {"verdict": report.verdict, "signatures": [s.to_json() for s in report.signatures]})
    counted = [c for c in report.checks if c.status not in (Status.INFO, Status.SKIP)]  # info rows are notes
    message = (f"{len(counted)} integrity checks passed" if not failed else
               "; ".join(f"{c.error}: {c.subject}: {c.message}" for c in failed[:5]))
    return GateCheck(cid, name, "fail" if failed else "pass", message,
                     {"verdict": report.verdict, "failed": [c.to_json() for c in failed]})


def _provenance(report: VerificationReport) -> Provenance | None:
    """The image's SLSA provenance, from an attestation whose signature verified (never from an
    unsigned or unchecked one)."""
    return next((p for _, p in attested_provenance(report.signatures) if isinstance(p, Provenance)), None)


def _inputs_check(rel: VerificationReport, reb: VerificationReport, reproduced: bool) -> GateCheck | None:
    """What the provenance of both builds says about their inputs: a differing input leads the
    explanation of a failed rebuild (input-drift); with only the release's, the recipe it implies."""
    a, b = _provenance(rel), _provenance(reb)
    if a is None:
        return None
    if b is None:
        recipe = rebuild_recipe(a)
        return GateCheck("inputs", "release and rebuild: build inputs from provenance", "skip",
                         "only the release carries verified provenance; a rebuild should use: " + "; ".join(recipe.lines()),
                         {"recipe": recipe.to_json()})
    drifts = compare_provenance(a, b)
    if not drifts:
        return GateCheck("inputs", "release and rebuild: build inputs from provenance", "pass",
                         "both provenances record the same inputs")
    return GateCheck("inputs", "release and rebuild: build inputs from provenance", "pass" if reproduced else "fail",
                     "; ".join(d.describe() for d in drifts), {"cause": "input-drift", "drifts": [d.to_json() for d in drifts]})


def _package_integrity_check(release: Image, rebuild: Image, session: Session) -> GateCheck:
    """Every file of both images against the digest its package database records; a changed
    conffile is reported, not failed (a deliberate local change, as in the audit)."""
    found = []
    for side, image in (("release", release), ("rebuild", rebuild)):
        inventory, result = check_image(image, session=session)
        found += [(side, m) for m in result.mismatches]
    failing = [(side, m) for side, m in found if not m.conffile]
    detail = "; ".join(f"{side}: {m.path} differs from {m.package.name} {m.package.version}" for side, m in failing[:5])
    return GateCheck("package-integrity", "release and rebuild: files match their package databases",
                     "fail" if failing else "pass",
                     detail or f"no file differs from its package record ({len(found)} changed conffiles)",
                     {"mismatches": [{"side": side, "path": m.path, "package": m.package.name, "version": m.package.version,
                                      "recorded": m.recorded, "actual": m.actual, "layer": m.layer,
                                      "conffile": m.conffile} for side, m in found]})


def _prefetch_layers(release: Container, rebuild: Container, session: Session) -> tuple[Image, Image] | None:
    """Both images' layers indexed in one pool, largest first, so neither core waits while the
    other finishes one image's biggest layer; the integrity walks then find them verified. Any
    failure is left for the walks to find and report: this step only saves time."""
    try:
        a, b = session.open_image(release), session.open_image(rebuild)
    except InspectrError:
        return None
    index_checked(list(a.layers) + list(b.layers), session.limits, session=session)
    return a, b


def run_gate(release: str, rebuild: str, policy: GatePolicy, *, session: Session | None = None,
             today: dt.date | None = None) -> GateReport:
    """Raises InspectrError only for unusable input (exit 2); every check's outcome is in the report.
    Each layer is inflated once: the integrity step's verified indexes serve the diff."""
    session = session or Session()
    checks: list[GateCheck] = []
    reasons: list[str] = []
    trust = Trust(keys=tuple(load_public_key(p) for p in policy.keys),
                  keyrings=tuple(load_keyring(p) for p in policy.keyrings),
                  identity=policy.identity, require_signature=policy.require_signature,
                  identity_policy=policy.identity_policy, trusted_root=policy.trusted_root, attestation=policy.attestation)
    release_container = session.open_container(release, attachments=True)
    rebuild_container = session.open_container(rebuild, attachments=True)
    images = _prefetch_layers(release_container, rebuild_container, session)
    rel = verify_image(release_container, trust, session=session)
    integrity = _verification_check("release-integrity", "release: integrity of every blob", rel, False)
    checks.append(integrity)
    if policy.require_signature:
        checks.append(_verification_check("release-signature", "release: signature by a required signer", rel, True))
    else:
        checks.append(GateCheck("release-signature", "release: signature by a required signer", "skip",
                                "not required (no policy)" if policy.path is None else
                                "not required (signers.required = false in the policy)"))
    # The rebuild is judged on integrity only; the release's trust inputs let its provenance be read.
    reb = verify_image(rebuild_container, dataclasses.replace(trust, require_signature=False, attestation=None), session=session)
    checks.append(_verification_check("rebuild-integrity", "rebuild: integrity of every blob", reb, False))
    untrusted = [c for c in checks if c.status == "fail"]
    if untrusted:
        reasons += [f"{c.name}: {c.message}" for c in untrusted]
        checks.append(GateCheck("diff", "release and rebuild: diff under the policy", "skip",
                                "not run: the release or rebuild is not trusted"))
        return GateReport(release, rebuild, "untrusted", reasons, checks, None, rel, reb)

    a, b = images or (session.open_image(release_container), session.open_image(rebuild_container))
    options = DiffOptions(ignore=SEMANTIC_IGNORABLE if policy.semantic else DiffOptions().ignore,
                          acceptances=policy.acceptances, today=today)
    pair = index_pair(a, b, session=session)
    identical = a.manifest_digest is not None and a.manifest_digest == b.manifest_digest
    try:
        difference = None if identical else compare_images(pair, options, session=session)
    finally:
        pair.close()
    expired = [r for r in policy.acceptances if r.expires is not None and r.expires < (today or dt.date.today())]
    for rule in expired:
        checks.append(GateCheck("policy-expiry", f"policy: acceptance {rule.reason!r}", "fail",
                                f"expired on {rule.expires.isoformat()}: it accepts nothing any more",  # type: ignore[union-attr]
                                {"path": rule.path, "cause": rule.cause.value if rule.cause else None}))
        reasons.append(f"acceptance {rule.reason!r} expired on {rule.expires.isoformat()}")  # type: ignore[union-attr]
    if difference is None:
        verdict = "reproduced"
        checks.append(GateCheck("diff", "release and rebuild: diff under the policy", "pass",
                                f"bit-identical: manifest {a.manifest_digest}"))
    else:
        accepted = [c for c in difference.changes if c.accepted]
        open_changes = difference.unaccepted
        counts = difference.counts(accepted=True)
        if not open_changes:
            verdict = "equivalent"
            checks.append(GateCheck("diff", "release and rebuild: diff under the policy", "pass",
                                    f"equivalent: {len(accepted)} accepted differences "
                                    f"({', '.join(f'{n} {k}' for k, n in counts.items())})",
                                    {"accepted": len(accepted), "accepted_counts": counts}))
        else:
            verdict = "not-reproduced"
            shown = ", ".join(sorted({c.path for c in open_changes})[:10])
            checks.append(GateCheck("diff", "release and rebuild: diff under the policy", "fail",
                                    f"{len(open_changes)} unaccepted differences: {shown}",
                                    {"unaccepted": len(open_changes), "accepted": len(accepted),
                                     "unaccepted_counts": difference.counts(accepted=False)}))
            reasons.append(f"{len(open_changes)} differences are not accepted by the policy: {shown}")
    inputs = _inputs_check(rel, reb, verdict in ("reproduced", "equivalent"))
    if inputs is not None:
        checks.append(inputs)
        if inputs.status == "fail":  # input-drift leads: the file differences follow from it
            n = len(difference.unaccepted) if difference is not None else 0
            reasons.insert(0, f"input-drift: {inputs.message}; {n} differences follow from it")
    if expired and verdict in ("reproduced", "equivalent"):
        verdict = "not-reproduced"
    if policy.audit_fail_on:
        report = audit_image(b, session=session)
        failing = report.failing(Severity(policy.audit_fail_on))
        checks.append(GateCheck("audit", f"rebuild: audit at {policy.audit_fail_on} or worse",
                                "fail" if failing else "pass",
                                "; ".join(f"{f.rule} {f.path}" for f in failing[:5]) or "no finding at the threshold",
                                {"counts": report.counts()}))
        if failing and verdict in ("reproduced", "equivalent"):
            verdict = "not-reproduced"
            reasons.append(f"audit: {len(failing)} findings at {policy.audit_fail_on} or worse")
    if policy.package_integrity:
        check = _package_integrity_check(a, b, session)
        checks.append(check)
        if check.status == "fail" and verdict in ("reproduced", "equivalent"):
            verdict = "not-reproduced"
            reasons.append(f"package-integrity: {check.message}")
    if policy.probes:
        probes = [Probe(p, ("/bin/sh", "-c", p)) for p in policy.probes]
        behaviour = behave(a, b, probes, repeat=2, session=session)
        broken = [o for o in behaviour.outcomes if o.verdict == "error"]
        if broken:  # a probe that cannot run says nothing about behaviour: an error, not a failed check
            raise RuntimeError_(f"behave: probe {broken[0].probe.name!r} could not run: {broken[0].error}"
                                + (f" ({len(broken)} of {len(behaviour.outcomes)} probes could not run)" if len(broken) > 1 else ""))
        for outcome in behaviour.outcomes:
            ok = outcome.verdict in ("same", "nondeterministic-only")
            detail = ("behaves the same" + (f" (nondeterministic: {', '.join(outcome.nondeterministic)})"
                                            if outcome.nondeterministic else "")) if ok else \
                (outcome.error or f"differs in {', '.join(outcome.differences)}")
            checks.append(GateCheck(f"behave:{outcome.probe.name}", f"behaviour probe {outcome.probe.name!r}",
                                    "pass" if ok else "fail", detail, outcome.to_json()))
        if not behaviour.same and verdict in ("reproduced", "equivalent"):
            verdict = "not-reproduced"
            reasons.append("behaviour differs: " + ", ".join(o.probe.name for o in behaviour.outcomes
                                                             if o.verdict not in ("same", "nondeterministic-only")))
    return GateReport(release, rebuild, verdict, reasons, checks, difference, rel, reb)
