"""`fleet scan` and `fleet query` as text or JSON (docs/formats/fleet-store.md). Output is
deterministic: no timings in JSON, images sorted by reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from .json import dump_document
from .safe import display_text

if TYPE_CHECKING:  # annotations only: presenting a query result loads no scan engine
    from ..fleet.query import QueryResult
    from ..fleet.scan import ScanReport
    from .table import Target

__all__ = ["scan_to_json", "present_scan_text", "present_scan_json", "present_query_text", "present_query_json"]


def _severities(findings: list[dict[str, Any]]) -> dict[str, int]:
    out = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
    for f in findings:
        if not f["allowed_by"]:
            out[f["severity"]] = out.get(f["severity"], 0) + 1
    return out


def scan_to_json(report: ScanReport) -> dict[str, Any]:
    failing = set(report.failing)
    images = [{"reference": i.reference, "platform": i.platform, "manifest_digest": i.manifest_digest,
               "status": i.status, "error_class": i.error_class, "error": i.error,
               "verdict": i.verification.get("verdict"), "signed": i.verification.get("signed"),
               "files": len(i.files), "packages": len(i.packages), "findings": _severities(i.findings),
               "failing": i.reference in failing} for i in report.images]
    images += [{"reference": p["reference"], "status": "error", "error_class": p["error_class"], "error": p["error"],
                "failing": True} for p in report.planned]
    return {"store": report.store, "images": sorted(images, key=lambda i: i["reference"]),
            "skipped": sorted(report.skipped),
            "layers": {"distinct": report.layers_total, "indexed": len(report.indexed), "from_store": report.layers_stored,
                       "errors": report.layer_errors},
            "failing": sorted(failing)}


def present_scan_json(report: ScanReport, to: Target) -> None:
    dump_document("fleet-scan", scan_to_json(report), to.out)


def present_scan_text(report: ScanReport, to: Target) -> None:
    """One line per image (failing ones marked), then what the scan did."""
    console = to.console()
    doc = scan_to_json(report)
    for image in doc["images"]:
        mark = "FAIL" if image["failing"] else "ok  "
        if image["status"] != "complete":
            error = image["error"] or ""
            shown = error if error.startswith(image["reference"]) else f"{image['reference']}: {error}"
            console.print(Text(f"{mark}  error[{image['error_class']}]  {display_text(shown)}"))
            continue
        counts = ", ".join(f"{n} {s}" for s, n in image["findings"].items() if n) or "no findings"
        console.print(Text(f"{mark}  {display_text(image['reference'])}  {image['verdict']}  {image['files']} files  "
                           f"{image['packages']} packages  {counts}"))
    layers = doc["layers"]
    console.print(Text(f"{len(report.images)} images scanned, {len(report.skipped)} already complete in the store; "
                       f"{layers['distinct']} distinct layers: {layers['indexed']} indexed, {layers['from_store']} from the store"))
    console.print(Text(f"{len(doc['failing'])} failing image(s); store: {display_text(report.store)}"))


def _record(result: QueryResult, row: list[Any]) -> dict[str, Any]:
    return dict(zip(result.columns, row))


def present_query_json(result: QueryResult, to: Target) -> None:
    dump_document("fleet-query", {"question": result.question, "argument": result.argument, "columns": result.columns,
                                  "rows": [_record(result, r) for r in result.rows], "truncated": result.truncated,
                                  "images": result.images}, to.out)


def _cell(value: Any, short: bool) -> str:
    """A digest as its first 12 hex digits, as `docker images` shows them (JSON has them whole)."""
    if value is None:
        return "-"
    text = str(value)
    if short:
        algorithm, sep, encoded = text.partition(":")
        text = f"{algorithm}:{encoded[:12]}" if sep else text[:12]
    return display_text(text)


def present_query_text(result: QueryResult, to: Target) -> None:
    """Rows that name images are grouped under each image, one line a row; other rows are an
    aligned table. Lines are never cut or folded: a terminal wraps them, a pipe keeps them whole."""
    console = to.console()
    short = [c.endswith("digest") or c == "sha256" for c in result.columns]
    cells = [[_cell(v, cut) for v, cut in zip(row, short)] for row in result.rows]
    if "ref" in result.columns:
        ref, platform = result.columns.index("ref"), result.columns.index("platform") if "platform" in result.columns else -1
        rest = [i for i in range(len(result.columns)) if i not in (ref, platform)]
        last = None
        for row, raw in zip(cells, result.rows):
            head = (raw[ref], raw[platform] if platform >= 0 else None)
            if head != last:
                console.print(Text(row[ref] + (f" ({row[platform]})" if platform >= 0 and raw[platform] else "")))
                last = head
            console.print(Text("  " + "  ".join(f"{result.columns[i]}={row[i]}" for i in rest)))
    else:
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
        for line in [list(result.columns), *cells]:
            console.print(Text("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip()))
    more = " (more matched: raise --max-rows)" if result.truncated else ""
    images = f", {len(result.images)} image(s)" if "ref" in result.columns else ""
    console.print(Text(f"{len(result.rows)} row(s){images}{more}"))
