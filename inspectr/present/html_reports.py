"""audit, verify, gate and behave as self-contained HTML pages (docs/formats/html.md).

Each page extends the diff page's skeleton (templates/page.html.j2: one CSS, one script, one
CSP) and goes through html.render_page. Every string from an image passes safe_text (control
characters shown escaped, secrets redacted) before Jinja's autoescaping; the gate's diff section
is the diff page's own parts (templates/diff_parts.html.j2, html.difference_context)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ..audit.findings import Finding, Severity
from ..audit.rules import RULES
from ..verify.report import Check, SignatureResult, Status, VerificationReport
from .audit import AuditVerdict, audit_reason, rule_groups
from .gate import gate_reason
from .html import diff_line_text, difference_context, render_page, safe_text, size_text

if TYPE_CHECKING:
    from ..gate.engine import GateReport
    from ..runtime.behave import BehaviourReport
    from .table import Target

__all__ = ["audit_html", "verification_html", "gate_html", "behaviour_html", "present_audit", "present_verify",
           "present_gate", "present_behave"]


def _by(created_by: str | None) -> str:
    return safe_text(" ".join(created_by.split())) if created_by else ""


def _finding(f: Finding) -> dict[str, Any]:
    layer = "" if f.layer is None else f"layer {f.layer}"
    return {"severity": f.severity.value, "path": safe_text(f.path or "-"), "message": safe_text(f.message),
            "layer": layer, "by": _by(f.created_by), "hidden": f.layer is not None and not f.visible,
            "allowed": safe_text(f.allowed_by) if f.allowed_by else ""}


def audit_html(v: AuditVerdict) -> str:
    """The audit as one page: verdict and counts per severity, then the findings grouped by rule,
    worst first, each with its layer and build step; a severity filter and a search."""
    r = v.report
    counts, allowed = r.counts(), r.counts(allowed=True)
    groups = [{"rule": rule, "about": RULES.get(rule, (None, ""))[1], "worst": items[0].severity.value,
               "n": len(items), "findings": [_finding(f) for f in items]} for rule, items in rule_groups(r.findings)]
    e = r.efficiency
    eco: dict[str, int] = {}
    for p in r.packages:
        eco[str(p.get("ecosystem"))] = eco.get(str(p.get("ecosystem")), 0) + 1
    ctx: dict[str, Any] = {
        "command": "audit", "verdict": "fail" if v.failing else "pass", "verdict_class": "fail" if v.failing else "pass",
        "reference": safe_text(r.reference), "format": safe_text(r.format),
        "explanation": safe_text(audit_reason(r, v.fail_on)),
        # The rules' own text, not the image's: display escaping would take "secret: …" for a secret.
        "hints": [f"{g['rule']}: {g['about']}" for g in groups if g["worst"] in ("critical", "high") and g["about"]],
        "severities": [{"name": s.value, "n": counts[s.value], "allowed": allowed[s.value]} for s in reversed(Severity)],
        "total": len(r.findings), "groups": groups,
        "efficiency": {"score": f"{e.score:.4f}", "wasted": size_text(e.wasted_bytes),
                       "percent": f"{e.user_wasted_percent * 100:.2f}%",
                       "top": [{"path": safe_text(str(t["path"])), "count": t["count"], "wasted": size_text(int(t["wasted_bytes"]))}
                               for t in e.top[:20]]},
        "packages": ", ".join(f"{n} {safe_text(k)}" for k, n in sorted(eco.items())),
        "integrity": dict(r.package_integrity) if r.package_integrity.get("checked") else None,
        "notices": [safe_text(f"{n.get('code')}: {n.get('message')}") for n in r.package_notices],
    }
    return render_page("audit.html.j2", ctx)


def _check_row(c: Check) -> dict[str, Any]:
    return {"status": c.status.value, "check": safe_text(c.check), "subject": safe_text(c.subject),
            "detail": safe_text(c.message + (f" [{c.error}]" if c.error else ""))}


def _signature_row(s: SignatureResult) -> dict[str, Any]:
    who = " ".join(x for x in (s.signer or "", s.identity or "") if x)
    return {"status": s.status.value, "kind": safe_text(s.kind), "source": safe_text(s.source), "who": safe_text(who),
            "detail": safe_text(s.message + (f" [{s.error}]" if s.error else ""))}


def verification_html(r: VerificationReport) -> str:
    """verify as one page: verdict and reason, counts per status, then every integrity check,
    signature, provenance and SBOM check and policy requirement with its result."""
    from .verify import integrity_count, verification_reason

    statuses: dict[str, int] = {}
    for c in r.checks:
        statuses[c.status.value] = statuses.get(c.status.value, 0) + 1
    ctx: dict[str, Any] = {
        "command": "verify", "verdict": r.verdict, "verdict_class": "pass" if r.ok else "fail",
        "reference": safe_text(r.reference), "format": safe_text(r.format),
        "explanation": safe_text(verification_reason(r)), "count": integrity_count(r),
        "hints": [] if r.signatures or r.trust_required else
                 ["no signatures found (none required: give --key or --keyring to require one)"],
        "statuses": sorted(statuses.items(), key=lambda kv: [s.value for s in Status].index(kv[0])),
        "digests": [safe_text(d) for d in r.manifest_digests],
        "checks": [_check_row(c) for c in r.checks],
        "signatures": [_signature_row(s) for s in r.signatures],
        "provenance": None if r.provenance is None else [_check_row(c) for c in r.provenance],
        "sbom": None if r.sbom is None else [_check_row(c) for c in r.sbom],
        "policy": None if r.policy is None else [_signature_row(p) for p in r.policy],
    }
    return render_page("verify.html.j2", ctx)


def _detail_lines(details: dict[str, Any]) -> list[str]:
    """A gate check's details, one short line per key (the JSON report holds them whole)."""
    out = []
    for key, value in details.items():
        if isinstance(value, list):
            shown = f"{len(value)} item{'s' if len(value) != 1 else ''}"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if all(not isinstance(v, (dict, list)) for v in value.values()) \
                else f"{len(value)} keys"
        else:
            shown = str(value)
        out.append(safe_text(f"{key}: {shown}"[:400]))
    return out


def gate_html(r: GateReport) -> str:
    """The gate as one page: verdict and reasons, each check with its verdict and details, then
    the diff section the diff page draws (counts, packages, the change list with its filters)."""
    d = r.difference
    ctx: dict[str, Any] = {
        "command": "gate", "verdict": r.verdict, "verdict_class": "pass" if r.ok else "fail",
        "release": safe_text(r.release), "rebuild": safe_text(r.rebuild),
        "explanation": safe_text("; ".join(gate_reason(r)) or r.verdict),
        "hints": [safe_text(h) for h in d.hints] if d is not None else [],
        "checks": [{"id": safe_text(c.id), "name": safe_text(c.name), "status": c.status, "message": safe_text(c.message),
                    "details": _detail_lines(c.details)} for c in r.checks],
        "has_diff": d is not None, "unaccepted": len(r.unaccepted), "accepted_n": len(r.accepted),
    }
    ctx.update(difference_context(d))
    if d is None:
        ctx["data"] = None
    return render_page("gate.html.j2", ctx)


def _probe_diff(name: str, a: Any, b: Any) -> dict[str, Any]:
    if isinstance(a, dict) and isinstance(b, dict):  # stdout/stderr: a line diff of the captured text
        lines = list(difflib.unified_diff(str(a.get("text", "")).splitlines(), str(b.get("text", "")).splitlines(),
                                          "A", "B", lineterm="", n=2))[2:402]
        return {"name": safe_text(name), "lines": [{"cls": "ins" if x.startswith("+") else "del" if x.startswith("-") else
                                                    "hunk" if x.startswith("@@") else "ctx", "text": diff_line_text(x)}
                                                   for x in lines]}
    return {"name": safe_text(name), "a": safe_text(str(a))[:2000], "b": safe_text(str(b))[:2000]}


def behaviour_html(r: BehaviourReport) -> str:
    """behave as one page: the verdict, each probe's result, and for each difference the values
    of both images (a line diff for stdout and stderr)."""
    verdicts: dict[str, int] = {}
    for o in r.outcomes:
        verdicts[o.verdict] = verdicts.get(o.verdict, 0) + 1
    differing = [o.probe.name for o in r.outcomes if o.verdict not in ("same", "nondeterministic-only")]
    ctx: dict[str, Any] = {
        "command": "behave", "verdict": "same" if r.same else "different", "verdict_class": "pass" if r.same else "fail",
        "a_ref": safe_text(r.a), "b_ref": safe_text(r.b),
        "explanation": safe_text(f"{len(r.outcomes)} probes behave the same in both images" if r.same else
                                 f"{len(differing)} of {len(r.outcomes)} probes differ: {', '.join(differing)}"),
        "verdicts": sorted(verdicts.items()),
        "probes": [{"name": safe_text(o.probe.name), "argv": safe_text(" ".join(o.probe.argv)) if o.probe.argv else "(the image's command)",
                    "verdict": o.verdict, "nondeterministic": safe_text(", ".join(o.nondeterministic)),
                    "error": safe_text(o.error) if o.error else "",
                    "differences": [_probe_diff(k, v.get("a"), v.get("b")) for k, v in o.differences.items()]}
                   for o in r.outcomes],
    }
    return render_page("behave.html.j2", ctx)


def present_audit(v: AuditVerdict, to: Target) -> None:
    to.out.write(audit_html(v))


def present_verify(r: VerificationReport, to: Target) -> None:
    to.out.write(verification_html(r))


def present_gate(r: GateReport, to: Target) -> None:
    to.out.write(gate_html(r))


def present_behave(r: BehaviourReport, to: Target) -> None:
    to.out.write(behaviour_html(r))
