"""The gate report for CI: versioned JSON, SARIF 2.1.0, JUnit XML, Markdown, and GitHub
workflow-command annotations."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from typing import Any, TextIO

from .. import __version__
from ..gate.engine import GateReport
from .diff_json import change_to_json
from .json import FORMAT_VERSION
from .safe import display_text

__all__ = ["gate_to_json", "gate_to_sarif", "gate_to_junit", "gate_markdown", "github_annotations"]


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
    results: list[dict[str, Any]] = []
    for c in r.checks:
        if c.status == "fail":
            results.append({"ruleId": c.id.split(":")[0], "level": "error", "message": {"text": f"{c.name}: {c.message}"},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.release}}}]})
    for change in r.unaccepted:
        layer = change.b.layer if change.b and change.b.layer is not None else (change.a.layer if change.a else None)
        results.append({
            "ruleId": "unaccepted-difference", "level": "error",
            "message": {"text": f"{change.path}: {change.change} ({change.cause.value})"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": change.path if change.subject in ('file', 'hidden') else r.rebuild}},
                           "logicalLocations": [{"name": f"layer {layer}" if layer is not None else change.subject, "kind": "module"}]}],
            "properties": {"subject": change.subject, "cause": change.cause.value, "layer": layer},
        })
    used = sorted({res["ruleId"] for res in results})
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "inspectr", "version": __version__,
                                          "informationUri": "https://example.invalid/inspectr",
                                          "rules": [{"id": u, "shortDescription": {"text": _RULES.get(u, u)}} for u in used]}},
                      "results": results, "properties": {"verdict": r.verdict}}]}


def gate_to_junit(r: GateReport) -> bytes:
    """One testsuite; one testcase per check (signature, integrity, diff, audit, each probe)."""
    failures = sum(1 for c in r.checks if c.status == "fail")
    skipped = sum(1 for c in r.checks if c.status == "skip")
    suite = ET.Element("testsuite", name="inspectr gate", tests=str(len(r.checks)), failures=str(failures),
                       errors="0", skipped=str(skipped))
    props = ET.SubElement(suite, "properties")
    for name, value in (("verdict", r.verdict), ("release", r.release), ("rebuild", r.rebuild)):
        ET.SubElement(props, "property", name=name, value=value)
    for c in r.checks:
        case = ET.SubElement(suite, "testcase", classname="inspectr.gate", name=f"{c.id}: {c.name}")
        if c.status == "fail":
            ET.SubElement(case, "failure", message=c.message[:500], type=c.id).text = c.message
        elif c.status == "skip":
            ET.SubElement(case, "skipped", message=c.message[:500])
    root = ET.Element("testsuites", name="inspectr", tests=str(len(r.checks)), failures=str(failures))
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _md(text: str) -> str:
    return html.escape(display_text(text), quote=False).translate(str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+!|~>"}))


def gate_markdown(r: GateReport, fp: TextIO) -> None:
    icon = "✅" if r.ok else "❌"
    fp.write(f"### {icon} inspectr gate: **{r.verdict}**\n\n- release: `{_md(r.release)}`\n- rebuild: `{_md(r.rebuild)}`\n\n")
    fp.write("| check | status | detail |\n|---|---|---|\n")
    for c in r.checks:
        mark = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭ skip"}[c.status]
        fp.write(f"| {_md(c.name)} | {mark} | {_md(c.message)[:400]} |\n")
    if r.accepted:
        fp.write(f"\n{len(r.accepted)} accepted differences:\n\n")
        for c in r.accepted[:50]:
            fp.write(f"- {_md(c.path)} ({c.cause.value}): {_md(c.accepted_by or '')}\n")
        if len(r.accepted) > 50:
            fp.write(f"- … and {len(r.accepted) - 50} more (see the JSON report)\n")
    if r.unaccepted:
        fp.write(f"\n{len(r.unaccepted)} differences not accepted:\n\n")
        for c in r.unaccepted[:50]:
            fp.write(f"- {_md(c.path)}: {c.change} ({c.cause.value})\n")
    fp.write("\n")


def _escape_command(text: str) -> str:
    # GitHub workflow commands: %, CR and LF must be escaped in the message.
    return display_text(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(r: GateReport, fp: TextIO) -> None:
    for c in r.checks:
        if c.status == "fail":
            fp.write(f"::error title=inspectr gate: {c.id}::{_escape_command(c.message)}\n")
        elif c.status == "skip" and c.id.startswith("behave"):
            fp.write(f"::warning title=inspectr gate: {c.id}::{_escape_command(c.message)}\n")
    for change in r.unaccepted[:50]:
        fp.write(f"::error title=inspectr gate: unaccepted difference::{_escape_command(change.path)} "
                 f"{change.change} ({change.cause.value})\n")
