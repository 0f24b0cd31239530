"""The diff for a terminal (rich) and as Markdown for a PR comment."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.text import Text

from ..diff.difference import Cause, Change, Difference, Verdict
from .diff_values import owners_text, value_text
from .safe import display_text, markdown_text as _md

if TYPE_CHECKING:
    from ..diff.run import DiffResult
    from .table import Target

__all__ = ["render_difference", "render_identical", "markdown_difference", "present_text", "present_markdown", "field_lines",
           "difference_lines", "markdown_change_detail"]

_VERDICT_STYLE = {Verdict.IDENTICAL: "bold green", Verdict.EQUIVALENT: "bold green", Verdict.DIFFERENT: "bold red"}
_MARK = {"added": "+", "removed": "-", "modified": "~", "renamed": ">", "upgraded": "^", "downgraded": "v"}




def _group_key(c: Change) -> tuple[str, str]:
    if c.subject == "package":
        return ("packages", c.change)
    if c.suspicious:
        return ("files no package change explains", c.cause.value)
    return (c.subject if c.subject != "file" else (c.path.rsplit("/", 1)[0] if "/" in c.path else "/"), c.cause.value)




def field_lines(c: Change) -> list[str]:
    """Each changed field as "name: old → new  [class]" (or its one value when added or removed)."""
    out = []
    for f in c.fields:
        if c.change in ("added", "removed"):
            out.append(f"{f.name}: {value_text(f.name, f.a if f.a is not None else f.b)}")
        else:
            out.append(f"{f.name}: {value_text(f.name, f.a)} → {value_text(f.name, f.b)}  [{f.cause.value}]")
    return out


def _provenance(c: Change) -> str:
    parts = []
    for label, side in (("A", c.a), ("B", c.b)):
        if side is not None and side.layer is not None and side.layer >= 0:
            by = f" ({' '.join((side.created_by or '').split())[:60]})" if side.created_by else ""
            parts.append(f"{label}: layer {side.layer}{by}")
    return "; ".join(parts)


def render_identical(a: dict[str, Any], console: Console) -> None:
    console.print(Text("identical", style="bold green"), Text(f"  manifest {a.get('manifest_digest') or a.get('config_digest')}"))


def render_difference(d: Difference, console: Console, verbose: bool = False, full: bool = False,
                      max_lines: int | None = None) -> None:
    """The verdict, counts, explanation and hints first; then the changes: in full (`full`), or
    summarised: real changes listed one by one, the rest collapsed into one line per group of
    entries of one class that differ in the same fields. `max_lines` bounds the output."""
    lines: list[Text] = []
    lines.append(Text(d.verdict.value, style=_VERDICT_STYLE[d.verdict]) + Text(
        f"  A: {display_text(str(d.a['reference']))} ({d.a['format']})  B: {display_text(str(d.b['reference']))} ({d.b['format']})"))
    counts, accepted = d.counts(), d.counts(accepted=True)
    lines.append(Text(f"{len(d.changes)} differences  " + "  ".join(
        f"{cause}: {n}" + (f" ({accepted[cause]} accepted)" if accepted.get(cause) else "") for cause, n in counts.items())))
    lines.append(Text(display_text(d.explanation), style=_VERDICT_STYLE[d.verdict]))
    lines += [Text(f"hint: {display_text(hint)}") for hint in d.hints]
    lines += difference_lines(d, verbose, full)
    if max_lines:
        heights = [1 if line.no_wrap else len(console.render_lines(line, console.options, pad=False)) for line in lines]
        if sum(heights) > max_lines:
            kept, used = 0, 0
            while used + heights[kept] <= max_lines - 1:
                used += heights[kept]
                kept += 1
            left = sum(heights[kept:])
            lines = lines[:kept] + [Text(f"… {left} more lines not shown: use --max-lines 0, --full, or -f json",
                                         style="dim", no_wrap=True)]
    run: list[Text] = []  # wrapped lines go out together: a print per line cost 0.2 s for 3 000 lines
    for line in lines:
        if not line.no_wrap:
            run.append(line)
            continue
        if run:
            console.print(Text("\n").join(run))
            run = []
        console.print(line, no_wrap=True, overflow=line.overflow or "ellipsis")  # Text's own no_wrap is not enough
    if run:
        console.print(Text("\n").join(run))


def difference_lines(d: Difference, verbose: bool = False, full: bool = False) -> list[Text]:
    """The body of the report below its header: every change (`full`), or the summary: real
    changes listed with their values and text diffs, the rest one line per group. The gate's
    text report shows its diff with these lines too."""
    lines: list[Text] = []
    if full:
        _full(d, lines, verbose)
    else:
        _summary(d, lines, verbose)
    return lines


def _fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in `text`, so the text cannot close it."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def markdown_change_detail(c: Change, indent: str = "  ", max_diff_lines: int = 40) -> str:
    """A change's old and new values and its text diff, as Markdown under a list item (for the
    gate's summary): the values on one line, the diff in a fenced block, both display-escaped."""
    out = ""
    values = "; ".join(field_lines(c))
    if values:
        out += f"{indent}{_md(values[:600])}\n"
    if c.content_diff:
        shown = c.content_diff.splitlines()
        body = "\n".join(display_text(line) for line in shown[:max_diff_lines])
        if len(shown) > max_diff_lines:
            body += f"\n… {len(shown) - max_diff_lines} more lines (see the JSON report)"
        fence = _fence(body)
        out += f"\n{indent}{fence}diff\n" + "".join(f"{indent}{line}\n" for line in body.split("\n")) + f"{indent}{fence}\n"
    return out


def _provenance_parts(c: Change) -> list[str]:
    return [part for part in _provenance(c).split("; ") if part]


def _compact_fields(c: Change) -> str:
    """An added or removed entry's fields on one line, digests shortened (the summary's form)."""
    parts = []
    for f in c.fields:
        value = f.a if f.a is not None else f.b
        text = value_text(f.name, value)
        if f.name == "sha256" and len(text) > 16:
            text = text[:16] + "…"
        parts.append(f"{f.name} {text}")
    return ", ".join(parts)


def _entry(c: Change, lines: list[Text], verbose: bool, seen: set[str] | None = None) -> None:
    """One change: its line, its provenance and owning package, its fields and text diff. With
    `seen` (the summary), a provenance part or package line already printed in this run of
    entries is not printed again, and an added or removed entry's fields take one line."""
    style = "dim" if c.accepted else ("green" if c.change == "added" else "red" if c.change == "removed" else "yellow")
    label = display_text(c.path if not c.renamed_from else f"{c.renamed_from} → {c.path}")
    if c.platform:
        label = f"[{c.platform}] {label}"
    head = Text(f"  {_MARK.get(c.change, '?')} {label}", style=style)
    if c.accepted:
        head.append(f"  (accepted: {display_text(c.accepted_by or '')})", style="dim")
    lines.append(head)
    parts = _provenance_parts(c)
    if parts and (seen is None or not set(parts) <= seen):
        lines.append(Text(f"      {display_text('; '.join(parts))}", style="dim"))
    if seen is not None:
        seen.update(parts)
    if c.subject == "package" and c.paths:
        shown_paths = ", ".join(c.paths[:4]) + (", …" if len(c.paths) > 4 else "")
        what = "files" if c.change in ("added", "removed") else "files in one version only"
        lines.append(Text(f"      {what}: {len(c.paths)}: {display_text(shown_paths)}", style="dim"))
    owners = owners_text(c)
    if owners and (seen is None or owners not in seen):
        lines.append(Text(f"      {display_text(owners)}", style="bold" if c.suspicious else ""))
        if seen is not None:
            seen.add(owners)
    if seen is not None and c.change in ("added", "removed") and c.subject in ("file", "hidden") and not verbose:
        lines.append(Text(f"      {display_text(_compact_fields(c))}", no_wrap=True, overflow="ellipsis"))
    else:
        shown = field_lines(c)
        for text in shown if (verbose or len(shown) <= 6) else shown[:6] + [f"… {len(shown) - 6} more fields"]:
            lines.append(Text(f"      {display_text(text)}"))
    if c.note:
        lines.append(Text(f"      note: {display_text(c.note)}", style="italic"))
    if c.content_diff and not c.accepted:
        for dl in c.content_diff.splitlines()[: (None if verbose else 40)]:
            st = "green" if dl.startswith("+") else "red" if dl.startswith("-") else "cyan" if dl.startswith("@@") else ""
            lines.append(Text(f"      {display_text(dl)}", style=st))


def _full(d: Difference, lines: list[Text], verbose: bool) -> None:
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    # packages first, then files that changed with no package change behind them, then the rest
    for c in sorted(d.changes, key=lambda c: 0 if c.subject == "package" else 1 if c.suspicious else 2):
        groups[_group_key(c)].append(c)
    for (where, cause), items in groups.items():
        lines.append(Text(""))
        lines.append(Text(f"{display_text(where)}  [{cause}]", style="bold"))
        for c in items:
            _entry(c, lines, verbose)


def _listed_in_full(c: Change) -> bool:
    """Real changes are listed one by one in the summary; the rest is grouped, and so are file
    changes a package change explains (grouped by package)."""
    return not c.accepted and (c.subject == "package" or (c.cause is Cause.CONTENT and not c.explained))


def _summary(d: Difference, lines: list[Text], verbose: bool) -> None:
    listed = sorted((c for c in d.changes if _listed_in_full(c)),
                    key=lambda c: (0 if c.subject == "package" else 1 if c.suspicious else 2))
    if listed:
        lines.append(Text(""))
        heading = ""
        seen: set[str] = set()
        for c in listed:
            where, cause = _group_key(c)
            title = "packages" if c.subject == "package" else "files no package change explains" if c.suspicious \
                else f"changes [{cause}]"
            if title != heading:
                lines.append(Text(title, style="bold"))
                heading, seen = title, set()
            _entry(c, lines, verbose, seen)  # provenance and package once per heading
    grouped: dict[tuple[str, str, tuple[str, ...], str | None], list[Change]] = defaultdict(list)
    for c in d.changes:
        if not _listed_in_full(c):
            kind = "file" if c.subject in ("file", "hidden") else c.subject
            if c.explained and c.owners:
                owner = c.owners[1] or c.owners[0]
                why = f"with {owner}" if owner else "in a layer that changed packages"
                grouped[(c.cause.value, f"files {c.change} {why}", (), c.accepted_by)].append(c)  # one line each
                continue
            grouped[(c.cause.value, kind, tuple(sorted({f.name for f in c.fields})), c.accepted_by)].append(c)
    if grouped:
        lines.append(Text(""))
        lines.append(Text("grouped (one line per class and set of fields; --full lists each entry)", style="bold"))
    for (cause, kind, fields, accepted_by), items in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0][:3])):
        sample = items[0]
        line = Text(f"  {cause:<12} ", style="dim" if accepted_by else "")
        if kind.startswith("files "):
            line.append(f"{len(items)} {display_text(kind if len(items) > 1 else 'file ' + kind[6:])}")
        else:
            what = "entry differs" if len(items) == 1 else "entries differ"
            only = f"only in {', '.join(fields)}" if fields else f"({sample.change})"
            line.append(f"{len(items)} {kind} {what} {only}")
        if kind.startswith("file"):
            dirs = sorted({(c.path.split("/", 1)[0] if "/" in c.path else "/") for c in items})
            line.append(f"; under {', '.join(display_text(x) for x in dirs[:6])}{', …' if len(dirs) > 6 else ''}")
            layers = sorted({(c.a.layer if c.a else None, c.b.layer if c.b else None) for c in items},
                            key=lambda ab: (ab[0] if ab[0] is not None else -1, ab[1] if ab[1] is not None else -1))
            line.append("; layers " + ", ".join(f"A{a if a is not None else '-'}/B{b if b is not None else '-'}"
                                                for a, b in layers[:6]) + (", …" if len(layers) > 6 else ""))
        if accepted_by:
            line.append(f"  (accepted: {display_text(accepted_by)})", style="dim")
        lines.append(line)
        example = field_lines(sample)[:1]
        lines.append(Text(f"      e.g. {display_text(sample.path)}" + (f": {display_text(example[0])}" if example else ""),
                          style="dim", no_wrap=True, overflow="ellipsis"))  # a sample: one line at any width


def markdown_difference(d: Difference | None, a: dict[str, Any], b: dict[str, Any], fp: TextIO) -> None:
    verdict = "identical" if d is None else d.verdict.value
    icon = {"identical": "✅", "equivalent": "✅", "different": "❌"}[verdict]
    fp.write(f"### {icon} inspectr diff: **{verdict}**\n\n")
    fp.write(f"- A: `{_md(str(a['reference']))}` ({_md(str(a['format']))})\n- B: `{_md(str(b['reference']))}` ({_md(str(b['format']))})\n\n")
    if d is None:
        return
    fp.write(f"{_md(d.explanation)}\n\n| class | differences | accepted |\n|---|---:|---:|\n")
    accepted = d.counts(accepted=True)
    for cause, n in d.counts().items():
        fp.write(f"| {cause} | {n} | {accepted.get(cause, 0)} |\n")
    open_changes = d.unaccepted
    if open_changes:
        packages = [c for c in open_changes if c.subject == "package"]
        if packages:
            fp.write("\n#### Packages\n\n| | package | version | layer |\n|---|---|---|---|\n")
            for c in packages:
                fp.write(f"| {c.change} | {_md(c.path)} | {_md('; '.join(field_lines(c)))} | "
                         f"{_md(_provenance(c))} |\n")
        suspicious = [c for c in open_changes if c.suspicious]
        open_changes = suspicious + [c for c in open_changes if c.subject != "package" and not c.suspicious]
        if suspicious:
            fp.write(f"\n**{len(suspicious)} changed files that no package change explains** (listed first below)\n")
        fp.write("\n<details><summary>Unaccepted differences</summary>\n\n| | path | class | fields | package | provenance |\n|---|---|---|---|---|---|\n")
        for c in open_changes[:500]:
            fields = "; ".join(field_lines(c))[:300]
            where = f"{c.platform} " if c.platform else ""
            fp.write(f"| {_MARK.get(c.change, '?')} | {_md(where + c.path)} | {c.cause.value} | {_md(fields)} | "
                     f"{_md(owners_text(c) or '')} | {_md(_provenance(c))} |\n")
        if len(open_changes) > 500:
            fp.write(f"\n… and {len(open_changes) - 500} more (see the JSON report)\n")
        fp.write("\n</details>\n")
    if d.hints:
        fp.write("\n" + "".join(f"- {_md(h)}\n" for h in d.hints))


def present_text(result: DiffResult, to: Target) -> None:
    """`diff` as terminal text: the verdict line alone when identical, else every change."""
    if result.difference is None:
        render_identical(result.a, to.console())
    else:
        render_difference(result.difference, to.console(), verbose=to.verbose, full=to.full, max_lines=to.max_lines)


def present_markdown(result: DiffResult, to: Target) -> None:
    markdown_difference(result.difference, result.a, result.b, to.out)
