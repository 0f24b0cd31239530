"""The audit report as terminal text, versioned JSON, SARIF 2.1.0 and Markdown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.text import Text

from ..audit.findings import AuditReport, Finding, Severity
from ..audit.rules import RULES
from .json import FORMAT_VERSION
from .junit import JUnitCase, junit_xml
from .sarif import SarifResult, sarif_log
from .safe import display_text, markdown_text as _md
from .json import write_json

if TYPE_CHECKING:
    from .table import Target

__all__ = ["AuditVerdict", "rule_groups", "audit_reason", "render_audit", "audit_to_json", "audit_to_sarif", "audit_to_junit", "markdown_audit", "present_text",
           "present_json", "present_sarif", "present_junit", "present_markdown"]

_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow", Severity.LOW: "cyan",
          Severity.INFO: "dim"}


@dataclass(frozen=True)
class AuditVerdict:
    """An audit report judged at a severity (`--fail-on`): what `audit` presents. JUnit fails a
    rule's case at that severity or worse; `failing` decides the exit status."""

    report: AuditReport
    fail_on: Severity

    @property
    def failing(self) -> bool:
        return bool(self.report.failing(self.fail_on))


def _where(f: Finding) -> str:
    if f.layer is None:
        return ""
    state = "" if f.visible else ", not visible: deleted or shadowed later"
    by = f" ({' '.join((f.created_by or '').split())[:60]})" if f.created_by else ""
    return f"layer {f.layer}{by}{state}"


def rule_groups(findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings grouped by rule, worst first: by the group's worst severity, then by how many it
    holds, then by name; within a group, worst first and otherwise in the engine's order."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        groups[f.rule].append(f)
    ordered = sorted(groups.items(), key=lambda kv: (-max(f.severity.rank for f in kv[1]), -len(kv[1]), kv[0]))
    return [(rule, sorted(items, key=lambda f: -f.severity.rank)) for rule, items in ordered]


def audit_reason(r: AuditReport, fail_on: Severity | None) -> str:
    """The verdict's reason: how many findings at the --fail-on severity or worse are not allowed."""
    failing = r.failing(fail_on)
    at = f"at {fail_on.value} or worse" if fail_on is not None else ""
    allowed = sum(1 for f in r.findings if f.allowed_by)
    text = (f"{len(failing)} finding{'s' if len(failing) != 1 else ''} {at} not allowed" if failing
            else f"no finding {at} that the rules do not allow" if fail_on is not None else f"{len(r.findings)} findings")
    text += f" (--fail-on {fail_on.value})" if fail_on is not None else ""
    if allowed:
        text += f"; {allowed} allowed by the rules file"
    return text + "".join(f"; threshold: {t}" for t in r.threshold_failures)


def render_audit(r: AuditReport, console: Console, verbose: bool = False, full: bool = False,
                 fail_on: Severity | None = None) -> None:
    """The verdict, counts per severity and the reason first; then one line per rule, worst
    first, with its count and a sample (`full` or `verbose`: every finding with its layer)."""
    failing = bool(r.failing(fail_on))
    head = Text("fail" if failing else "pass", style="bold red" if failing else "bold green") if fail_on else Text("audit")
    console.print(head + Text(f"  {display_text(r.reference)} ({r.format})"))
    counts, allowed = r.counts(), r.counts(allowed=True)
    summary = Text("")
    for sev in reversed(Severity):
        n = counts[sev.value]
        summary.append(f"{sev.value} {n}" + (f" ({allowed[sev.value]} allowed)" if allowed[sev.value] else "") + "  ",
                       style=_STYLE[sev] if n else "dim")
    console.print(summary)
    if fail_on is not None:
        console.print(Text(display_text(audit_reason(r, fail_on)), style="red" if failing else "green"))
    groups = rule_groups(r.findings)
    if groups and not (full or verbose):
        console.print()
        console.print(Text("findings by rule, worst first (one line per rule; --full lists each finding)", style="bold"))
        width = max(len(rule) for rule, _ in groups)
        for rule, items in groups:
            worst = items[0]
            n_allowed = sum(1 for f in items if f.allowed_by)
            line = Text(f"  {worst.severity.value:<8} ", style=_STYLE[worst.severity])
            line.append(f"{rule:<{width}} {len(items):>4}" + (f" ({n_allowed} allowed)" if n_allowed else ""))
            layers = sorted({f.layer for f in items if f.layer is not None})
            if layers:
                line.append(f"  layer{'s' if len(layers) > 1 else ''} {', '.join(map(str, layers[:6]))}"
                            + (", …" if len(layers) > 6 else ""), style="dim")
            line.append(f"  e.g. {display_text(worst.path or '-')}: {display_text(worst.message)}", style="dim")
            console.print(line, no_wrap=True, overflow="ellipsis")  # one line per rule at any width
    for rule, items in groups if (full or verbose) else []:
        console.print()
        console.print(Text(f"{rule}  ({len(items)})  {RULES.get(rule, (None, ''))[1]}", style="bold"))
        for f in items:
            line = Text(f"  {f.severity.value:<8} ", style=_STYLE[f.severity])
            line.append(display_text(f.path or "-"))
            line.append(f"  {display_text(f.message)}")
            if f.allowed_by:
                line.append(f"  (allowed: {display_text(f.allowed_by)})", style="dim")
            console.print(line)
            where = _where(f)
            if where:
                console.print(Text(f"           {display_text(where)}", style="dim"))
    e = r.efficiency
    console.print()
    console.print(Text(f"efficiency {e.score:.4f}, wasted {e.wasted_bytes} bytes "
                       f"({e.user_wasted_percent * 100:.2f}% of the non-base layers)", style="bold"))
    for t in e.top[:10]:
        console.print(Text(f"  {t['wasted_bytes']:>12}  x{t['count']}  {display_text(t['path'])}"))
    if r.packages:
        eco: dict[str, int] = defaultdict(int)
        for p in r.packages:
            eco[p["ecosystem"]] += 1
        console.print(Text("packages: " + ", ".join(f"{n} {k}" for k, n in sorted(eco.items()))))
    pi = r.package_integrity
    if pi.get("checked"):
        console.print(Text(f"package integrity: {pi['checked']} files checked against their package databases, "
                           f"{pi['mismatched']} differ; {pi['missing']} listed files are not in the image"))
    for note in r.package_notices:
        console.print(Text(f"note[{note['code']}]: {display_text(str(note['message']))}", style="yellow"))
    for prov in r.provenance:
        source = prov.get("source") or {}
        console.print(Text(display_text(f"provenance ({prov.get('signature')}): builder {prov.get('builder') or '-'}, "
                                        f"source {source.get('uri') or '-'} at {source.get('commit') or '-'}, "
                                        f"{len(prov.get('base_images') or [])} base images, "
                                        f"{len(prov.get('build_args') or {})} build arguments")))


def audit_to_json(r: AuditReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION, "kind": "audit", "reference": r.reference, "format": r.format,
        "counts": r.counts(), "allowed_counts": r.counts(allowed=True),
        "findings": [f.to_json() for f in r.findings], "efficiency": r.efficiency.to_json(),
        "packages": r.packages, "package_integrity": r.package_integrity, "package_notices": r.package_notices,
        "threshold_failures": r.threshold_failures, "provenance": r.provenance,
    }


_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
          Severity.INFO: "note"}


def audit_to_sarif(r: AuditReport) -> dict[str, Any]:
    results = [SarifResult(f.rule, _LEVEL[f.severity], f"{f.path}: {f.message}" if f.path else f.message, f.path or None,
                           f"layer {f.layer}" if f.layer is not None else "config",
                           {"severity": f.severity.value, "layer": f.layer, "visible": f.visible,
                            "created_by": f.created_by, "evidence": f.evidence}, f.allowed_by)
               for f in r.findings]
    return sarif_log(results, {rid: text for rid, (_, text) in RULES.items()},
                     {"efficiency": r.efficiency.to_json(), "reference": r.reference})


def audit_to_junit(r: AuditReport, fail_on: Severity | None) -> bytes:
    """One testcase per rule: it fails when the rule has a finding at `fail_on` or worse that
    no allow-list entry covers."""
    failing = {f.rule for f in r.failing(fail_on)}
    cases = []
    for rule in RULES:
        found = [f for f in r.findings if f.rule == rule]
        message = "; ".join(f"{f.severity.value} {f.path}: {f.message}" for f in found[:20])
        cases.append(JUnitCase(rule, "fail" if rule in failing else "pass", message or "no findings", rule))
    return junit_xml("inspectr audit", cases, {"reference": r.reference})


def markdown_audit(r: AuditReport, fp: TextIO) -> None:
    counts = r.counts()
    fp.write(f"### inspectr audit: {_md(r.reference)}\n\n| severity | findings |\n|---|---:|\n")
    for sev in reversed(Severity):
        fp.write(f"| {sev.value} | {counts[sev.value]} |\n")
    fp.write("\n| severity | rule | path | layer | detail |\n|---|---|---|---|---|\n")
    for f in r.findings[:500]:
        fp.write(f"| {f.severity.value} | {f.rule} | {_md(f.path or '-')} | {_md(_where(f))} | {_md(f.message)} |\n")
    e = r.efficiency
    fp.write(f"\nEfficiency {e.score:.4f}, wasted {e.wasted_bytes} bytes.\n")


def present_text(v: AuditVerdict, to: Target) -> None:
    render_audit(v.report, to.console(), to.verbose, to.full, v.fail_on)


def present_json(v: AuditVerdict, to: Target) -> None:
    write_json(audit_to_json(v.report), to.out)


def present_sarif(v: AuditVerdict, to: Target) -> None:
    write_json(audit_to_sarif(v.report), to.out)


def present_junit(v: AuditVerdict, to: Target) -> None:
    to.out.write(audit_to_junit(v.report, v.fail_on).decode("utf-8") + "\n")


def present_markdown(v: AuditVerdict, to: Target) -> None:
    markdown_audit(v.report, to.out)
