"""`behave`: the probe verdicts as terminal text (with a line diff of differing output), Markdown,
or versioned JSON (docs/formats/behave.md)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ..runtime.behave import BehaviourReport
from .json import dump_document
from .safe import display_text, markdown_text

if TYPE_CHECKING:
    from .table import Target

__all__ = ["behaviour_to_json", "present_text", "present_json", "present_markdown"]


def behaviour_to_json(r: BehaviourReport) -> dict[str, Any]:
    """The body of the behave document (without format_version and kind)."""
    return {"a": r.a, "b": r.b, "same": r.same, "probes": [o.to_json() for o in r.outcomes]}


def present_json(r: BehaviourReport, to: Target) -> None:
    dump_document("behave", behaviour_to_json(r), to.out)


def present_markdown(r: BehaviourReport, to: Target) -> None:
    to.out.write(f"### {'✅' if r.same else '❌'} inspectr behave: **{'same' if r.same else 'different'}**\n\n"
                 "| probe | verdict | differing fields | nondeterministic |\n|---|---|---|---|\n")
    for o in r.outcomes:
        to.out.write(f"| {markdown_text(o.probe.name)} | {o.verdict} | {markdown_text(', '.join(o.differences))} | "
                     f"{markdown_text(', '.join(o.nondeterministic))} |\n")


def present_text(r: BehaviourReport, to: Target) -> None:
    out = to.out
    out.write(("same" if r.same else "different") + "\n")
    for o in r.outcomes:
        line = f"  {o.verdict:<22} {display_text(o.probe.name)}"
        if o.nondeterministic:
            line += f"  (nondeterministic: {display_text(', '.join(o.nondeterministic))})"
        if o.error:
            line += f"  error: {display_text(o.error)}"
        out.write(line + "\n")
        for name, d in o.differences.items():
            va, vb = d["a"], d["b"]
            if isinstance(va, dict):  # stdout/stderr: a line diff of the captured text
                out.write(f"      {display_text(name)}:\n")
                lines = difflib.unified_diff(va["text"].splitlines(), vb["text"].splitlines(), lineterm="", n=1)
                for text in list(lines)[2:42]:  # past the ---/+++ header; at most 40 lines
                    out.write(f"        {display_text(text)}\n")
                continue
            out.write(f"      {display_text(name)}: {display_text(str(va))[:200]} -> {display_text(str(vb))[:200]}\n")
