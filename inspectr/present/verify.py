"""The verification report as a terminal table, versioned JSON or SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..verify.report import Status, VerificationReport
from .json import FORMAT_VERSION
from .safe import display_text

__all__ = ["render_verification", "verification_to_json", "verification_to_sarif"]

_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.WARN: "yellow", Status.UNVERIFIABLE: "yellow",
          Status.INFO: "dim", Status.SKIP: "dim"}


def render_verification(r: VerificationReport, console: Console, verbose: bool = False) -> None:
    ok = r.ok
    console.print(Text(r.verdict, style="bold green" if ok else "bold red"),
                  Text(f"  {display_text(r.reference)} ({r.format})"))
    table = Table(show_edge=False, pad_edge=False, title="integrity", title_justify="left")
    for col in ("status", "check", "subject", "detail"):
        table.add_column(col, overflow="fold")
    shown = 0
    for c in r.checks:
        if c.status is Status.PASS and not verbose:
            continue
        shown += 1
        table.add_row(Text(c.status.value, style=_STYLE[c.status]), c.check, Text(display_text(c.subject)),
                      Text(display_text(c.message + (f" [{c.error}]" if c.error else ""))))
    passed = sum(1 for c in r.checks if c.status is Status.PASS)
    if shown:
        console.print(table)
    console.print(f"{passed} of {len(r.checks)} integrity checks passed" + ("" if verbose else " (-v lists them all)"))
    if r.signatures:
        sig = Table(show_edge=False, pad_edge=False, title="signatures", title_justify="left")
        for col in ("status", "kind", "source", "signer / identity", "detail"):
            sig.add_column(col, overflow="fold")
        for s in r.signatures:
            who = " ".join(x for x in (s.signer or "", s.identity or "") if x)
            sig.add_row(Text(s.status.value, style=_STYLE[s.status]), s.kind, Text(display_text(s.source)),
                        Text(display_text(who)), Text(display_text(s.message + (f" [{s.error}]" if s.error else ""))))
        console.print(sig)
    elif not r.trust_required:
        console.print("no signatures found (none required: give --key or --keyring to require one)")
    if r.policy is not None:
        pol = Table(show_edge=False, pad_edge=False, title="policy", title_justify="left")
        for col in ("status", "requirement", "detail"):
            pol.add_column(col, overflow="fold")
        for p in r.policy:
            pol.add_row(Text(p.status.value, style=_STYLE[p.status]), Text(display_text(p.source)),
                        Text(display_text(p.message + (f" [{p.error}]" if p.error else ""))))
        console.print(pol)


def verification_to_json(r: VerificationReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "kind": "verify",
        "reference": r.reference,
        "format": r.format,
        "verdict": r.verdict,
        "ok": r.ok,
        "manifest_digests": r.manifest_digests,
        "trust_required": r.trust_required,
        "checks": [c.to_json() for c in r.checks],
        "signatures": [s.to_json() for s in r.signatures],
        "policy": [p.to_json() for p in r.policy] if r.policy is not None else None,
    }


_RULES = {
    "digest-mismatch": "A blob's bytes do not match its digest, or a signature names another digest",
    "size-mismatch": "A blob's length differs from its descriptor",
    "diffid-mismatch": "An uncompressed layer does not match its diff_id",
    "bad-signature": "A signature does not verify with the given keys",
    "untrusted-key": "Signed by a key that is not trusted (unknown, expired or revoked)",
    "identity-mismatch": "The signed identity is not the expected reference",
    "no-signature": "No signature was found for the image",
    "unsupported-format": "A signature or blob is in a format inspectr cannot verify",
    "unverifiable-digest-algorithm": "A digest algorithm that cannot be computed",
    "blob-not-found": "A referenced blob is missing",
    "manifest-mismatch": "Docker manifest.json disagrees with index.json",
    "unreferenced-blob": "A blob nothing references",
}


def verification_to_sarif(r: VerificationReport) -> dict[str, Any]:
    results = []
    used: set[str] = set()
    level = {Status.FAIL: "error", Status.WARN: "warning", Status.UNVERIFIABLE: "warning"}
    for c in r.checks:
        if c.status in level:
            rule = c.error or c.check
            used.add(rule)
            results.append({"ruleId": rule, "level": level[c.status],
                            "message": {"text": f"{c.subject}: {c.message}"},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.reference}},
                                           "logicalLocations": [{"name": c.subject, "kind": "object"}]}]})
    for s in r.signatures + (r.policy or []):
        if s.status in level:
            rule = s.error or "signature"
            used.add(rule)
            results.append({"ruleId": rule, "level": level[s.status], "message": {"text": f"{s.source}: {s.message}"},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.reference}}}]})
    rules = [{"id": rid, "shortDescription": {"text": _RULES.get(rid, rid)}} for rid in sorted(used)]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "inspectr", "version": __version__,
                                "informationUri": "https://example.invalid/inspectr", "rules": rules}},
            "results": results,
            "properties": {"verdict": r.verdict, "manifest_digests": r.manifest_digests},
        }],
    }


def dump(doc: dict[str, Any], fp: TextIO) -> None:
    json.dump(doc, fp, indent=2, ensure_ascii=True)
    fp.write("\n")
