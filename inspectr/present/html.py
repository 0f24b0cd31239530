"""The diff as one self-contained HTML page (docs/formats/html.md).

The page is static HTML for the summary, the package table and the layer tables (Jinja2 with
autoescaping), plus the changes as JSON that a small inline script renders lazily: only the rows
in view are built, so a report of 50 000 changes opens and filters in well under two seconds.

Everything from an image is hostile. Each such string first goes through `safe.display_text`
(control and bidi characters, lone surrogates from names that are not UTF-8, and secrets are shown
escaped), then through Jinja's autoescaping in the HTML, or into the JSON block with `<`, `>` and
`&` written as `\\u003c` escapes, so neither `</script>` nor `<!--` can end the block. The script
only ever sets `textContent`. A Content-Security-Policy allows nothing but the page's own inline
style and script, by their SHA-256 hashes, so the page can make no request at all."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from ..diff.difference import Cause, Change, Difference, Side
from .diff_values import owners_text, value_text
from .safe import display_text

if TYPE_CHECKING:
    from ..diff.run import DiffResult
    from .table import Target

__all__ = ["diff_html", "present_html", "render_page", "difference_context", "safe_text", "script_json", "size_text", "diff_line_text"]

_MARK = {"added": "+", "removed": "-", "modified": "~", "renamed": ">", "upgraded": "^", "downgraded": "v"}


def _environment() -> jinja2.Environment:
    # Made per call: cheap next to rendering, and no module-level state (tests/test_architecture.py).
    return jinja2.Environment(loader=jinja2.PackageLoader("inspectr.present", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def safe_text(text: object) -> str:
    """Image text, escaped as for a terminal (display_text): what the page shows is what `diff` prints."""
    return display_text(str(text))


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def script_json(value: Any) -> str:
    """JSON that is inert inside <script type="application/json">: ASCII only (U+2028 and lone
    surrogates become \\u escapes), and no `<`, `>` or `&`, so `</script>` and `<!--` cannot occur."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")




def size_text(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), "B"
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"




def diff_line_text(line: str) -> str:
    """One line of a unified diff, escaped as safe_text does but with its tabs kept (they indent
    code, and are harmless in a page). "\\ No newline at end of file" is diff's own marker: its
    backslash is not the image's."""
    if line.startswith("\\ "):
        return "\\" + diff_line_text(line[1:])
    return "\t".join(safe_text(part) for part in line.split("\t"))


class _Strings:
    """One table of created_by lines: each change names its history line by number, not by copy."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def ref(self, text: str | None) -> int | None:
        if text is None:
            return None
        shown = safe_text(" ".join(text.split()))
        found = self.index.get(shown)
        if found is None:
            found = self.index[shown] = len(self.items)
            self.items.append(shown)
        return found


def _side(side: Side | None, strings: _Strings) -> list[int | None] | None:
    if side is None or side.layer is None:
        return None
    return [side.layer, strings.ref(side.created_by)]


def _change_record(c: Change, strings: _Strings, causes: dict[Cause, int]) -> dict[str, Any]:
    """A change for the page's script, with short keys (the page is read by it alone) and only the
    keys that have a value. Every string is already display-escaped."""
    rec: dict[str, Any] = {"s": c.subject, "p": safe_text(c.path), "k": c.change, "c": causes[c.cause]}
    if c.accepted_by:
        rec["acc"] = safe_text(c.accepted_by)
    if c.suspicious:
        rec["x"] = 1
    if c.fields:
        one_sided = c.change in ("added", "removed")
        rec["f"] = [[safe_text(f.name), safe_text(value_text(f.name, f.a)), safe_text(value_text(f.name, f.b)), causes[f.cause], int(one_sided)]
                    for f in c.fields]
    for key, side in (("A", c.a), ("B", c.b)):
        shown = _side(side, strings)
        if shown is not None:
            rec[key] = shown
    if c.renamed_from:
        rec["r"] = safe_text(c.renamed_from)
    if c.content_diff:
        rec["d"] = "\n".join(diff_line_text(line) for line in c.content_diff.split("\n"))
    if c.note:
        rec["n"] = safe_text(c.note)
    if c.platform:
        rec["pl"] = safe_text(c.platform)
    owners = owners_text(c)
    if owners:
        rec["o"] = safe_text(owners)
    if c.paths:
        rec["ps"] = [safe_text(p) for p in c.paths]
    return rec


def _layer_tables(result: DiffResult, changes: list[Change]) -> list[dict[str, Any]]:
    """Per compared pair and side: each layer's digest, sizes, entries, history line, and how many
    changes name it as their provenance."""
    tables = []
    multi = len(result.pairs) > 1
    for pair, _diff in result.pairs:
        platform = pair.a.platform
        for label, image, indexes in (("A", pair.a, pair.indexes_a), ("B", pair.b, pair.indexes_b)):
            touched: dict[int, int] = {}
            for c in changes:
                side = c.a if label == "A" else c.b
                if side is not None and side.layer is not None and (not multi or c.platform == platform):
                    touched[side.layer] = touched.get(side.layer, 0) + 1
            rows = []
            for i, ref in enumerate(image.layers):
                index = indexes[i] if i < len(indexes) else None
                digest = str(ref.digest) if ref.digest else (index.digest if index and index.digest else ref.blob_name)
                history = ref.history.created_by if ref.history is not None else None
                rows.append({
                    "index": i, "digest": safe_text(digest),
                    "compressed": size_text(index.compressed_size if index else ref.size),
                    "uncompressed": size_text(index.uncompressed_size) if index else "?",
                    "compression": safe_text(index.compression) if index else "?",
                    "entries": len(index.entries) if index else "?",
                    "created_by": safe_text(" ".join(history.split())) if history else "",
                    "changes": touched.get(i, 0),
                })
            tables.append({"side": label, "platform": safe_text(platform), "reference": safe_text(image.reference), "rows": rows})
    return tables


def _package_rows(changes: list[Change]) -> list[dict[str, Any]]:
    rows = []
    for c in changes:
        if c.subject != "package":
            continue
        version = next((f for f in c.fields if f.name == "version"), None)
        where = [f"{label}: layer {side.layer}" for label, side in (("A", c.a), ("B", c.b))
                 if side is not None and side.layer is not None and side.layer >= 0]
        rows.append({
            "change": c.change, "mark": _MARK.get(c.change, "?"), "name": safe_text(c.path), "accepted": bool(c.accepted),
            "a": safe_text(value_text("version", version.a)) if version else "", "b": safe_text(value_text("version", version.b)) if version else "",
            "layers": "; ".join(where), "files": len(c.paths) if c.paths else 0,
            "platform": safe_text(c.platform) if c.platform else "",
        })
    return rows


def _images(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The two image descriptions side by side: (key, A's value, B's value)."""
    keys = ("format", "platform", "manifest_digest", "config_digest", "layers")  # references: in the header line

    def shown(side: dict[str, Any], key: str) -> str:
        return "" if side.get(key) is None else safe_text(side[key])

    return [(k.replace("_", " "), shown(a, k), shown(b, k)) for k in keys if a.get(k) is not None or b.get(k) is not None]


def difference_context(d: Difference | None) -> dict[str, Any]:
    """The parts of a Difference that the diff page and the gate page's diff section share
    (templates/diff_parts.html.j2): counts per class, the package table, and the change list
    as the JSON the page's script draws lazily."""
    causes = {cause: i for i, cause in enumerate(Cause)}
    ctx: dict[str, Any] = {"counts": [], "total": 0, "accepted": 0, "packages": [], "listed": 0, "suspicious": 0}
    if d is None:
        ctx["data"] = script_json({"causes": [c.value for c in Cause], "strings": [], "changes": []})
        return ctx
    changes = d.changes
    all_counts, accepted = d.counts(), d.counts(accepted=True)
    ctx["counts"] = [{"cause": cause, "n": n, "accepted": accepted.get(cause, 0), "index": causes[Cause(cause)]}
                     for cause, n in sorted(all_counts.items(), key=lambda kv: -Cause(kv[0]).rank)]
    ctx["total"], ctx["accepted"] = len(changes), sum(1 for c in changes if c.accepted)
    ctx["packages"] = _package_rows(changes)
    strings = _Strings()
    # The list: files no package change explains first, then the rest in the Difference's order.
    listed = [c for c in changes if c.subject != "package"]
    listed = [c for c in listed if c.suspicious] + [c for c in listed if not c.suspicious]
    ctx["listed"], ctx["suspicious"] = len(listed), sum(1 for c in listed if c.suspicious)
    records = [_change_record(c, strings, causes) for c in listed]
    ctx["data"] = script_json({"causes": [c.value for c in Cause], "strings": strings.items, "changes": records})
    return ctx


def _context(result: DiffResult) -> dict[str, Any]:
    d: Difference | None = result.difference
    a, b = (d.a, d.b) if d is not None else (result.a, result.b)
    ctx: dict[str, Any] = {
        "command": "diff", "verdict": result.verdict.value, "verdict_class": result.verdict.value, "images": _images(a, b),
        "a_ref": safe_text(a.get("reference", "?")), "b_ref": safe_text(b.get("reference", "?")),
        "explanation": "the images are identical (same manifest digest)" if d is None else safe_text(d.explanation),
        "hints": [] if d is None else [safe_text(h) for h in d.hints],
    }
    ctx.update(difference_context(d))
    ctx["layers"] = _layer_tables(result, d.changes if d is not None else [])
    return ctx


def render_page(template: str, ctx: dict[str, Any]) -> str:
    """One report page from `template` (which extends page.html.j2) and its context, as one
    HTML document (ASCII: anything else is a character reference). Every string in `ctx` that
    came from an image must already be display-escaped (`_safe`); Jinja escapes it for HTML.
    Raises jinja2.TemplateError only on a broken template, never because of image content."""
    env = _environment()
    if env.loader is None:
        raise RuntimeError("internal error: the HTML report's environment has no template loader")
    # The page's own style and script, inserted verbatim: the CSP names them by these exact bytes.
    css = env.loader.get_source(env, "report.css")[0]
    script = env.loader.get_source(env, "report.js")[0]
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(script)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    values = {"hints": [], "data": None, **ctx}
    page = env.get_template(template).render(csp=csp, css=Markup(css), script=Markup(script), **values)
    # Style, script and JSON are ASCII, and in text and attributes a character reference means the
    # character itself: the page survives any output encoding.
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")


def diff_html(result: DiffResult) -> str:
    """The whole diff report as one HTML document (see render_page)."""
    return render_page("diff.html.j2", _context(result))


def present_html(result: DiffResult, to: Target) -> None:
    """`diff --format html`: one self-contained page on `to.out`."""
    to.out.write(diff_html(result))
