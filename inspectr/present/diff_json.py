"""The diff as versioned JSON (docs/formats/diff.md), and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from ..diff.difference import Cause, Change, Difference, FieldChange, Side, Verdict
from .json import FORMAT_VERSION
from .junit import JUnitCase, junit_xml
from .sarif import SarifResult, sarif_log
from .json import write_json

if TYPE_CHECKING:
    from ..diff.run import DiffResult
    from .table import Target

__all__ = ["difference_to_json", "dump_difference", "load_difference", "identical_to_json", "difference_to_sarif",
           "difference_to_junit", "present_json", "present_sarif", "present_junit"]


def _side(side: Side | None) -> dict[str, Any] | None:
    return None if side is None else {"layer": side.layer, "created_by": side.created_by}


def change_to_json(c: Change) -> dict[str, Any]:
    return {
        "subject": c.subject,
        "path": c.path,
        "change": c.change,
        "cause": c.cause.value,
        "accepted_by": c.accepted_by,
        "fields": [{"name": f.name, "a": f.a, "b": f.b, "cause": f.cause.value} for f in c.fields],
        "a": _side(c.a),
        "b": _side(c.b),
        "renamed_from": c.renamed_from,
        "content_diff": c.content_diff,
        "note": c.note,
        "platform": c.platform,
        "paths": c.paths,
        "packages": None if c.owners is None else {"a": c.owners[0], "b": c.owners[1], "explained": c.explained},
    }


def difference_to_json(d: Difference) -> dict[str, Any]:
    accepted = sum(1 for c in d.changes if c.accepted)
    return {
        "format_version": FORMAT_VERSION,
        "kind": "diff",
        "verdict": d.verdict.value,
        "a": d.a,
        "b": d.b,
        "counts": d.counts(),
        "accepted_counts": d.counts(accepted=True),
        "unaccepted_counts": d.counts(accepted=False),
        "total": len(d.changes),
        "accepted": accepted,
        "explanation": d.explanation,
        "hints": d.hints,
        "changes": [change_to_json(c) for c in d.changes],
    }


def identical_to_json(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "kind": "diff", "verdict": Verdict.IDENTICAL.value, "a": a, "b": b,
            "counts": {}, "accepted_counts": {}, "unaccepted_counts": {}, "total": 0, "accepted": 0,
            "explanation": "the images are identical (same manifest digest)", "hints": [], "changes": []}


def dump_difference(d: Difference, fp: TextIO) -> None:
    write_json(difference_to_json(d), fp)


def _load_side(value: dict[str, Any] | None) -> Side | None:
    return None if value is None else Side(value["layer"], value["created_by"])


def load_difference(doc: dict[str, Any]) -> Difference | None:
    """The inverse of difference_to_json; None for an `identical` document."""
    if doc.get("kind") != "diff" or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError("not an inspectr diff document of a supported format_version")
    if doc["verdict"] == Verdict.IDENTICAL.value:
        return None
    changes = [
        Change(
            subject=c["subject"], path=c["path"], change=c["change"], cause=Cause(c["cause"]),
            fields=[FieldChange(f["name"], f["a"], f["b"], Cause(f["cause"])) for f in c["fields"]],
            a=_load_side(c["a"]), b=_load_side(c["b"]), renamed_from=c["renamed_from"],
            content_diff=c["content_diff"], note=c["note"], accepted_by=c["accepted_by"], platform=c["platform"],
            paths=c.get("paths"),
            owners=(c["packages"]["a"], c["packages"]["b"]) if c.get("packages") else None,
            explained=c["packages"]["explained"] if c.get("packages") else None,
        )
        for c in doc["changes"]
    ]
    return Difference(doc["a"], doc["b"], Verdict(doc["verdict"]), changes, doc["explanation"], list(doc["hints"]))


def difference_to_sarif(d: Difference | None, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One result per difference; accepted ones carry their acceptance as a suppression."""
    results = []
    for c in (d.changes if d else []):
        side = c.b if c.b is not None else c.a
        layer = side.layer if side is not None else None
        results.append(SarifResult(c.cause.value, "note" if c.accepted else "error", f"{c.path}: {c.change} ({c.cause.value})",
                                   c.path if c.subject in ("file", "hidden") else None,
                                   f"layer {layer}" if layer is not None else c.subject,
                                   {"subject": c.subject, "layer": layer}, c.accepted_by))
    texts = {cause.value: f"difference of class {cause.value}" for cause in Cause}
    return sarif_log(results, texts, {"verdict": d.verdict.value if d else Verdict.IDENTICAL.value})


def difference_to_junit(d: Difference | None, a: dict[str, Any], b: dict[str, Any]) -> bytes:
    """One testcase per cause class: it fails when that class has an unaccepted difference."""
    cases = []
    for cause in Cause:
        items = [c for c in (d.changes if d else []) if c.cause is cause]
        open_items = [c for c in items if not c.accepted]
        message = "; ".join(f"{c.path} ({c.change})" for c in open_items[:20]) or (
            f"{len(items)} accepted" if items else "no differences")
        cases.append(JUnitCase(cause.value, "fail" if open_items else "pass", message, cause.value))
    verdict = d.verdict.value if d else Verdict.IDENTICAL.value
    return junit_xml("inspectr diff", cases, {"verdict": verdict, "a": str(a.get("reference")), "b": str(b.get("reference"))})


def present_json(result: DiffResult, to: Target) -> None:
    """The diff document (docs/formats/diff.md); also what `--report-dir` writes as report.json."""
    doc = difference_to_json(result.difference) if result.difference else identical_to_json(result.a, result.b)
    write_json(doc, to.out)


def present_sarif(result: DiffResult, to: Target) -> None:
    write_json(difference_to_sarif(result.difference, result.a, result.b), to.out)


def present_junit(result: DiffResult, to: Target) -> None:
    to.out.write(difference_to_junit(result.difference, result.a, result.b).decode("utf-8") + "\n")
