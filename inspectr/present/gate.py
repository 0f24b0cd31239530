"""The gate report for CI: terminal text, versioned JSON, SARIF 2.1.0, JUnit XML, Markdown, and
GitHub workflow-command annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.text import Text

from ..gate.engine import GateReport
from .diff_text import difference_lines, markdown_change_detail
from .diff_json import change_to_json
from .json import FORMAT_VERSION
from .junit import JUnitCase, junit_xml
from .sarif import SarifResult, sarif_log
from .safe import display_text, markdown_text as _md
from .json import write_json

if TYPE_CHECKING:
    from .table import Target

__all__ = ["gate_reason", "render_gate", "gate_to_json", "gate_to_sarif", "gate_to_junit", "gate_markdown", "github_annotations", "present_text",
           "present_json", "present_sarif", "present_junit", "present_markdown", "present_github"]


def gate_to_json(r: GateReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION, "kind": "gate", "release": r.release, "rebuild": r.rebuild,
        "verdict": r.verdict, "ok": r.ok, "reasons": r.reasons,
        "checks": [c.to_json() for c in r.checks],
        "accepted": [change_to_json(c) for c in r.accepted],
        "unaccepted": [change_to_json(c) for c in r.unaccepted],
    }


_RULES = {
    "release-integrity": "The release's blobs match their digests, sizes and diff_ids",
    "release-signature": "The release is signed by a required signer",
    "rebuild-integrity": "The rebuild's blobs match their digests, sizes and diff_ids",
    "diff": "The rebuild differs from the release only in accepted ways",
    "policy-expiry": "An acceptance in the policy has expired",
    "audit": "The rebuild has no audit finding at the policy's threshold",
    "unaccepted-difference": "A difference between release and rebuild that the policy does not accept",
}


def gate_to_sarif(r: GateReport) -> dict[str, Any]:
    results = [SarifResult(c.id.split(":")[0], "error", f"{c.name}: {c.message}", None)
               for c in r.checks if c.status == "fail"]
    for change in r.unaccepted:
        layer = change.b.layer if change.b and change.b.layer is not None else (change.a.layer if change.a else None)
        results.append(SarifResult("unaccepted-difference", "error", f"{change.path}: {change.change} ({change.cause.value})",
                                   change.path if change.subject in ("file", "hidden") else None,
                                   f"layer {layer}" if layer is not None else change.subject,
                                   {"subject": change.subject, "cause": change.cause.value, "layer": layer}))
    return sarif_log(results, _RULES, {"verdict": r.verdict})


def gate_to_junit(r: GateReport) -> bytes:
    """One testsuite; one testcase per check (signature, integrity, diff, audit, each probe)."""
    cases = [JUnitCase(f"{c.id}: {c.name}", c.status, c.message, c.id) for c in r.checks]
    return junit_xml("inspectr gate", cases, {"verdict": r.verdict, "release": r.release, "rebuild": r.rebuild})


def gate_markdown(r: GateReport, fp: TextIO) -> None:
    icon = "✅" if r.ok else "❌"
    fp.write(f"### {icon} inspectr gate: **{r.verdict}**\n\n- release: `{_md(r.release)}`\n- rebuild: `{_md(r.rebuild)}`\n\n")
    fp.write("| check | status | detail |\n|---|---|---|\n")
    for c in r.checks:
        mark = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭ skip"}[c.status]
        fp.write(f"| {_md(c.name)} | {mark} | {_md(c.message)[:400]} |\n")
    if r.accepted:
        fp.write(f"\n{len(r.accepted)} accepted differences:\n\n")
        for change in r.accepted[:50]:
            fp.write(f"- {_md(change.path)} ({change.cause.value}): {_md(change.accepted_by or '')}\n")
        if len(r.accepted) > 50:
            fp.write(f"- … and {len(r.accepted) - 50} more (see the JSON report)\n")
    if r.unaccepted:
        fp.write(f"\n{len(r.unaccepted)} differences not accepted:\n\n")
        for change in r.unaccepted[:50]:
            fp.write(f"- {_md(change.path)}: {change.change} ({change.cause.value})\n")
            fp.write(markdown_change_detail(change))
        if len(r.unaccepted) > 50:
            fp.write(f"- … and {len(r.unaccepted) - 50} more (see the JSON report)\n")
    if r.difference is not None and r.difference.hints:
        fp.write("\n" + "".join(f"- hint: {_md(h)}\n" for h in r.difference.hints))
    fp.write("\n")


def _escape_command(text: str) -> str:
    # GitHub workflow commands: %, CR and LF must be escaped in the message.
    return display_text(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(r: GateReport, fp: TextIO) -> None:
    for c in r.checks:
        if c.status == "fail":
            fp.write(f"::error title=inspectr gate: {c.id}::{_escape_command(c.message)}\n")
        elif c.status == "skip":
            fp.write(f"::warning title=inspectr gate: {c.id}::{_escape_command(c.message)}\n")
    for change in r.unaccepted[:50]:
        fp.write(f"::error title=inspectr gate: unaccepted difference::{_escape_command(change.path)} "
                 f"{change.change} ({change.cause.value})\n")


def gate_reason(r: GateReport) -> list[str]:
    """Why the verdict is what it is: the gate's reasons, or for a passing gate what the diff found."""
    if r.reasons:
        return list(r.reasons)
    diff = next((c for c in r.checks if c.id == "diff"), None)
    return [diff.message] if diff is not None else []


_STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def render_gate(r: GateReport, console: Console, verbose: bool = False, full: bool = False) -> None:
    """The verdict and its reasons first, then each check, then the diff: the differences not
    accepted with their old and new values and text diffs, the accepted ones grouped."""
    console.print(Text(r.verdict, style="bold green" if r.ok else "bold red")
                  + Text(f"  release: {display_text(r.release)}  rebuild: {display_text(r.rebuild)}"))
    for reason in gate_reason(r):
        console.print(Text(f"  - {display_text(reason)}"))
    if r.verdict == "equivalent":
        console.print(Text(f"  {len(r.accepted)} accepted differences"))
    d = r.difference
    for hint in d.hints if d is not None else []:  # advice on what is still open only (diff/engine.py)
        console.print(Text(f"hint: {display_text(hint)}"))
    console.print()
    console.print(Text("checks", style="bold"))
    width = max(len(c.name) for c in r.checks) if r.checks else 0
    for c in r.checks:
        line = Text(f"  {c.status:<5} ", style=_STATUS_STYLE.get(c.status, ""))
        line.append(f"{display_text(c.name):<{width}}  {display_text(c.message)}")
        console.print(line)
    if d is not None:
        console.print()
        console.print(Text(f"diff: {len(r.unaccepted)} differences not accepted, {len(r.accepted)} accepted", style="bold"))
        for line in difference_lines(d, verbose, full):
            if line.no_wrap:
                console.print(line, no_wrap=True, overflow=line.overflow or "ellipsis")
            else:
                console.print(line)


def present_text(r: GateReport, to: Target) -> None:
    render_gate(r, to.console(), to.verbose, to.full)


def present_json(r: GateReport, to: Target) -> None:
    write_json(gate_to_json(r), to.out)


def present_sarif(r: GateReport, to: Target) -> None:
    write_json(gate_to_sarif(r), to.out)


def present_junit(r: GateReport, to: Target) -> None:
    # Unlike the other commands' JUnit on stdout, no newline after the document: the bytes gate
    # has always written to its .junit.xml file.
    to.out.write(gate_to_junit(r).decode("utf-8"))


def present_markdown(r: GateReport, to: Target) -> None:
    gate_markdown(r, to.out)


def present_github(r: GateReport, to: Target) -> None:
    """GitHub workflow commands: ::error for each failed check and unaccepted difference."""
    github_annotations(r, to.out)
