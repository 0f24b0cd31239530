"""The verification report as a terminal table, versioned JSON or SARIF 2.1.0."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..verify.report import Status, VerificationReport
from .json import FORMAT_VERSION
from .junit import JUnitCase, junit_xml
from .sarif import SarifResult, sarif_log
from .safe import display_text, markdown_text as _md
from .json import write_json

if TYPE_CHECKING:
    from .table import Target

__all__ = ["render_verification", "verification_reason", "integrity_count", "verification_to_json", "verification_to_sarif", "verification_to_junit", "markdown_verification",
           "present_text", "present_json", "present_sarif", "present_junit", "present_markdown"]

# Short columns stay whole; the long ones (subjects, details, digests) fold to fit the width.
_WHOLE = frozenset({"status", "check", "kind"})
_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.WARN: "yellow", Status.UNVERIFIABLE: "yellow",
          Status.INFO: "dim", Status.SKIP: "dim"}


def integrity_count(r: VerificationReport) -> str:
    """"8 of 8 integrity checks passed": info and skip rows (a dir: image's computed manifest
    digest) are notes, not checks, so they count on neither side."""
    counted = [c for c in r.checks if c.status not in (Status.INFO, Status.SKIP)]
    passed = sum(1 for c in counted if c.status is Status.PASS)
    notes = len(r.checks) - len(counted)
    return f"{passed} of {len(counted)} integrity checks passed" + (f", and {notes} note{'s' if notes != 1 else ''}" if notes else "")


def _problem(items: list[Any]) -> str:
    first = items[0]
    text = f"{first.error or getattr(first, 'check', '') or first.kind}: {first.message}"
    return text + (f" (and {len(items) - 1} more)" if len(items) > 1 else "")


def verification_reason(r: VerificationReport) -> str:
    """Why the verdict is what it is, in one line: the first failure, or what was verified."""
    failed = [c for c in r.checks if c.status is Status.FAIL]
    signers = [s for s in r.signatures if s.status is Status.PASS]
    signed = ", signed by " + ", ".join(sorted({s.signer or s.identity or s.kind for s in signers})) if signers else ""
    match r.verdict:
        case "integrity-failed":
            return f"{len(failed)} integrity check{'s' if len(failed) != 1 else ''} failed: {_problem(failed)}"
        case "policy-failed":
            return "the policy is not met: " + _problem([p for p in r.policy or [] if p.status is not Status.PASS])
        case "provenance-failed":
            return "the provenance does not match: " + _problem([c for c in r.provenance or [] if c.status is Status.FAIL])
        case "sbom-mismatch":
            return "the SBOM does not match the image: " + _problem([c for c in r.sbom or [] if c.status is Status.FAIL])
        case "signature-failed":
            bad = [s for s in r.signatures if s.status is not Status.PASS and s.kind != "none"]
            return "no valid signature: " + (_problem(bad) if bad else "none verified")
        case "no-signature":
            return "a signature is required and none was found"
        case "verified":
            return f"{integrity_count(r)}{signed or ', and every requirement is met'}"
    found = [s for s in r.signatures if s.kind != "none"]
    return (f"{integrity_count(r)}; no signature required"
            + (f" ({len(found)} found{', ' + str(len(signers)) + ' valid' if signers else ''})" if found else ""))


def render_verification(r: VerificationReport, console: Console, verbose: bool = False) -> None:
    """The verdict and its reason first, then the tables: integrity (failures and notes, or every
    check with -v), signatures, provenance, SBOM and policy."""
    ok = r.ok
    console.print(Text(r.verdict, style="bold green" if ok else "bold red"),
                  Text(f"  {display_text(r.reference)} ({r.format})"))
    console.print(Text(display_text(verification_reason(r)), style="green" if ok else "red"))
    table = Table(show_edge=False, pad_edge=False, title="integrity", title_justify="left")
    for col in ("status", "check", "subject", "detail"):
        table.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
    shown = 0
    for c in r.checks:
        if c.status is Status.PASS and not verbose:
            continue
        shown += 1
        table.add_row(Text(c.status.value, style=_STYLE[c.status]), c.check, Text(display_text(c.subject)),
                      Text(display_text(c.message + (f" [{c.error}]" if c.error else ""))))
    if shown:
        console.print(table)
    passed = sum(1 for c in r.checks if c.status is Status.PASS)
    if passed and not verbose:
        console.print(Text(f"{passed} passed integrity checks not shown (-v lists them)", style="dim"))
    if r.signatures:
        sig = Table(show_edge=False, pad_edge=False, title="signatures", title_justify="left")
        for col in ("status", "kind", "source", "signer / identity", "detail"):
            sig.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
        for s in r.signatures:
            who = " ".join(x for x in (s.signer or "", s.identity or "") if x)
            sig.add_row(Text(s.status.value, style=_STYLE[s.status]), s.kind, Text(display_text(s.source)),
                        Text(display_text(who)), Text(display_text(s.message + (f" [{s.error}]" if s.error else ""))))
        console.print(sig)
    elif not r.trust_required:
        console.print("no signatures found (none required: give --key or --keyring to require one)")
    if r.provenance is not None:
        prov = Table(show_edge=False, pad_edge=False, title="provenance", title_justify="left")
        for col in ("status", "check", "detail"):
            prov.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
        for c in r.provenance:
            prov.add_row(Text(c.status.value, style=_STYLE[c.status]), c.check,
                         Text(display_text(c.message + (f" [{c.error}]" if c.error else ""))))
        console.print(prov)
    if r.sbom is not None:
        sb = Table(show_edge=False, pad_edge=False, title="sbom", title_justify="left")
        for col in ("status", "check", "package", "detail"):
            sb.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
        for c in r.sbom:
            sb.add_row(Text(c.status.value, style=_STYLE[c.status]), c.check, Text(display_text(c.subject)),
                       Text(display_text(c.message + (f" [{c.error}]" if c.error else ""))))
        console.print(sb)
    if r.policy is not None:
        pol = Table(show_edge=False, pad_edge=False, title="policy", title_justify="left")
        for col in ("status", "requirement", "detail"):
            pol.add_column(col, overflow="fold", no_wrap=col in _WHOLE)
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
        "provenance": [c.to_json() for c in r.provenance] if r.provenance is not None else None,
        "sbom": [c.to_json() for c in r.sbom] if r.sbom is not None else None,
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
    "sbom-package-absent": "The SBOM claims a package the image does not hold",
    "sbom-package-unclaimed": "The image holds a package the SBOM does not name",
    "sbom-version-mismatch": "The SBOM and the image name different versions of a package",
    "sbom-mismatch": "The SBOM does not describe the image's packages",
    "malformed-sbom": "An SBOM that cannot be read",
    "no-sbom": "No SBOM to compare",
}


def verification_to_sarif(r: VerificationReport) -> dict[str, Any]:
    level = {Status.FAIL: "error", Status.WARN: "warning", Status.UNVERIFIABLE: "warning"}
    results = [SarifResult(c.error or c.check, level[c.status], f"{c.subject}: {c.message}", None, c.subject)
               for c in r.checks + (r.provenance or []) + (r.sbom or []) if c.status in level]
    results += [SarifResult(s.error or "signature", level[s.status], f"{s.source}: {s.message}", None)
                for s in r.signatures + (r.policy or []) if s.status in level]
    return sarif_log(results, _RULES, {"verdict": r.verdict, "manifest_digests": r.manifest_digests})


def verification_to_junit(r: VerificationReport) -> bytes:
    """One testcase per integrity check and per signature (and policy requirement)."""
    status = {Status.PASS: "pass", Status.FAIL: "fail", Status.WARN: "pass", Status.UNVERIFIABLE: "fail",
              Status.INFO: "pass", Status.SKIP: "skip"}
    cases = [JUnitCase(f"{c.check}: {c.subject}", status[c.status], c.message, c.error or c.check)
             for c in r.checks + (r.provenance or []) + (r.sbom or [])]
    cases += [JUnitCase(f"{s.kind}: {s.source}", status[s.status], s.message, s.error or s.kind)
              for s in r.signatures + (r.policy or [])]
    return junit_xml("inspectr verify", cases, {"verdict": r.verdict, "reference": r.reference})


def markdown_verification(r: VerificationReport, fp: TextIO) -> None:
    icon = "✅" if r.ok else "❌"
    fp.write(f"### {icon} inspectr verify: **{r.verdict}**\n\n- image: `{_md(r.reference)}` ({_md(r.format)})\n\n")
    reason, count = verification_reason(r), integrity_count(r)
    fp.write(f"{_md(reason)}\n\n" + ("" if reason.startswith(count) else f"{count}.\n\n"))
    rows = [c for c in r.checks + (r.provenance or []) + (r.sbom or []) if c.status not in (Status.PASS, Status.INFO)]
    if rows:
        fp.write("| status | check | subject | detail |\n|---|---|---|---|\n")
        for c in rows:
            fp.write(f"| {c.status.value} | {c.check} | {_md(c.subject)} | {_md(c.message)} |\n")
    if r.signatures or r.policy:
        fp.write("\n| status | kind | source | detail |\n|---|---|---|---|\n")
        for s in r.signatures + (r.policy or []):
            fp.write(f"| {s.status.value} | {s.kind} | {_md(s.source)} | {_md(s.message)} |\n")


def dump(doc: dict[str, Any], fp: TextIO) -> None:
    write_json(doc, fp)


def present_text(r: VerificationReport, to: Target) -> None:
    render_verification(r, to.console(), to.verbose)


def present_json(r: VerificationReport, to: Target) -> None:
    dump(verification_to_json(r), to.out)


def present_sarif(r: VerificationReport, to: Target) -> None:
    dump(verification_to_sarif(r), to.out)


def present_junit(r: VerificationReport, to: Target) -> None:
    to.out.write(verification_to_junit(r).decode("utf-8") + "\n")


def present_markdown(r: VerificationReport, to: Target) -> None:
    markdown_verification(r, to.out)
