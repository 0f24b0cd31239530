"""One presenter per (result type, format), in one table: `present(result, fmt, out)`.

Both sides of the table are named, not imported: a command pays only for the presenter it uses
(`inspectr run` never loads rich, the diff engine or the signature code). tests/test_presenters.py
checks that every name resolves and that every format a command offers has an entry."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping, TextIO

from ..fs.gcpause import gc_paused

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Target", "NoPresenter", "present", "formats", "presenter", "TABLE"]


@dataclass(frozen=True)
class Target:
    """Where a presenter writes: `out` for the result, `err` for what a command reports beside it
    (`run`'s limits), and a rich console on `out` for tables, made on first use."""

    out: TextIO
    err: TextIO
    console: Callable[[], "Console"]
    verbose: bool = False
    full: bool = False  # text reports: one entry per line instead of the summary
    max_lines: int | None = None  # text reports: at most this many lines, then what was left out


class NoPresenter(LookupError):
    """No presenter for this (result type, format): a command offered a format the table lacks."""


_DIFF, _VERIFY, _GATE = "diff.run.DiffResult", "verify.report.VerificationReport", "gate.engine.GateReport"
_AUDIT, _INSPECT = "present.audit.AuditVerdict", "summary.ImageSummary"
_RUN, _BEHAVE = "present.run.RunOutcome", "runtime.behave.BehaviourReport"
_INVENTORY = "inventory_model.Inventory"
_FLEET_SCAN, _FLEET_QUERY = "fleet.scan.ScanReport", "fleet.query.QueryResult"
_LAYER, _DELETED, _TREE = "present.ls.LayerListing", "present.ls.DeletedListing", "present.ls.TreeListing"

# (result type under inspectr., format) -> "module under inspectr.present:function(result, target)"
TABLE: Mapping[tuple[str, str], str] = MappingProxyType({
    (_DIFF, "text"): "diff_text:present_text",
    (_DIFF, "markdown"): "diff_text:present_markdown",
    (_DIFF, "json"): "diff_json:present_json",
    (_DIFF, "sarif"): "diff_json:present_sarif",
    (_DIFF, "junit"): "diff_json:present_junit",
    (_DIFF, "html"): "html:present_html",
    (_VERIFY, "text"): "verify:present_text",
    (_VERIFY, "json"): "verify:present_json",
    (_VERIFY, "sarif"): "verify:present_sarif",
    (_VERIFY, "junit"): "verify:present_junit",
    (_VERIFY, "markdown"): "verify:present_markdown",
    (_VERIFY, "html"): "html_reports:present_verify",
    (_AUDIT, "text"): "audit:present_text",
    (_AUDIT, "json"): "audit:present_json",
    (_AUDIT, "sarif"): "audit:present_sarif",
    (_AUDIT, "junit"): "audit:present_junit",
    (_AUDIT, "markdown"): "audit:present_markdown",
    (_AUDIT, "html"): "html_reports:present_audit",
    (_GATE, "text"): "gate:present_text",
    (_GATE, "json"): "gate:present_json",
    (_GATE, "sarif"): "gate:present_sarif",
    (_GATE, "junit"): "gate:present_junit",
    (_GATE, "markdown"): "gate:present_markdown",
    (_GATE, "github"): "gate:present_github",
    (_GATE, "html"): "html_reports:present_gate",
    (_INSPECT, "text"): "inspect:present_text",
    (_INSPECT, "json"): "inspect:present_json",
    (_LAYER, "text"): "ls:present_layer_text",
    (_LAYER, "json"): "ls:present_layer_json",
    (_DELETED, "text"): "ls:present_deleted_text",
    (_DELETED, "json"): "ls:present_deleted_json",
    (_TREE, "text"): "ls:present_tree_text",
    (_TREE, "json"): "ls:present_tree_json",
    (_RUN, "text"): "run:present_text",
    (_RUN, "json"): "run:present_json",
    (_BEHAVE, "text"): "behave:present_text",
    (_BEHAVE, "json"): "behave:present_json",
    (_BEHAVE, "markdown"): "behave:present_markdown",
    (_BEHAVE, "html"): "html_reports:present_behave",
    (_INVENTORY, "text"): "inventory:present_text",
    (_INVENTORY, "json"): "inventory:present_json",
    (_INVENTORY, "cyclonedx"): "sbom:present_cyclonedx",
    (_INVENTORY, "spdx"): "sbom:present_spdx",
    (_FLEET_SCAN, "text"): "fleet:present_scan_text",
    (_FLEET_SCAN, "json"): "fleet:present_scan_json",
    (_FLEET_QUERY, "text"): "fleet:present_query_text",
    (_FLEET_QUERY, "json"): "fleet:present_query_json",
})


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}".removeprefix("inspectr.")


def formats(type_name: str) -> list[str]:
    """The formats the table has for a result type (named as in TABLE, e.g. "diff.run.DiffResult")."""
    return [fmt for name, fmt in TABLE if name == type_name]


def presenter(result: object, fmt: str) -> Callable[[Any, Target], None]:
    """The presenter for this result (or for its nearest base class in the table) and format.
    Raises NoPresenter."""
    for cls in type(result).__mro__:
        ref = TABLE.get((_type_name(cls), fmt))
        if ref is not None:
            module, _, function = ref.partition(":")
            found: Callable[[Any, Target], None] = getattr(importlib.import_module(f"{__package__}.{module}"), function)
            return found
    name = _type_name(type(result))
    raise NoPresenter(f"no presenter for {name} in format {fmt!r} (it has: {', '.join(formats(name)) or 'none'})")


@gc_paused  # reports are acyclic; a full collection here would walk the engine's trees, still alive
def present(result: object, fmt: str, out: TextIO, *, console: Callable[[], "Console"] | None = None,
            err: TextIO | None = None, verbose: bool = False, full: bool = False, max_lines: int | None = None) -> None:
    """Write `result` to `out` in `fmt`. `console` makes the rich console for text tables (the CLI
    passes its own, which follows --color and the terminal); by default a plain one on `out`.
    Raises NoPresenter when the table has no entry for the result's type and the format."""
    chosen = presenter(result, fmt)
    chosen(result, Target(out, err if err is not None else sys.stderr, console or (lambda: _plain_console(out)), verbose,
                          full, max_lines))


def _plain_console(out: TextIO) -> "Console":
    from rich.console import Console

    return Console(file=out, width=100, color_system=None, highlight=False, soft_wrap=True)
