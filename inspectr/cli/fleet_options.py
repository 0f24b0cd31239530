"""The flags `fleet scan` and `fleet query` share or ask one by one, and the scan's progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..errors import UsageError
from .common import Context

__all__ = ["store_option", "QUESTION_OPTIONS", "chosen_query", "ScanProgress"]

F = TypeVar("F", bound=Callable[..., Any])

# (flag, parameter, metavar or None for a plain flag, help)
_QUESTIONS = (
    ("--path", "path", "GLOB", "Images holding a path matching GLOB (** crosses directories)."),
    ("--sha256", "sha256", "HEX", "Images holding a file with this content digest."),
    ("--package", "package", "NAME[<=VERSION]", "Images with this package (at or below VERSION)."),
    ("--finding", "finding", "RULE", "Audit findings of this rule ('*': any rule)."),
    ("--unsigned", "unsigned", None, "Images with no verified signature."),
    ("--unverified", "unverified", None, "Images that failed verification or could not be scanned."),
    ("--duplicated-layers", "duplicated_layers", None, "Layers held by several images, most bytes saved first."),
    ("--sql", "sql", "SELECT", "A read-only SQL query on the store (docs/formats/fleet-store.md)."),
)


def _default_store(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    from ..fleet.store import default_store_path

    return value if value is not None else default_store_path()


def store_option(func: F) -> F:
    return click.option("--store", type=click.Path(dir_okay=False, path_type=Path), callback=_default_store,
                        help="The SQLite store (default: $XDG_DATA_HOME/inspectr/fleet.sqlite).")(func)


def QUESTION_OPTIONS(func: F) -> F:  # upper case: reads as the flags it adds
    """The question flags (one of them is given), --severity and --max-rows."""
    for flag, name, metavar, text in reversed(_QUESTIONS):
        if metavar is None:
            func = click.option(flag, name, is_flag=True, help=text)(func)
        else:
            func = click.option(flag, name, metavar=metavar, help=text)(func)
    func = click.option("--max-rows", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
                        help="Rows at most.")(func)
    func = click.option("--severity", type=click.Choice(["info", "low", "medium", "high", "critical"]),
                        help="With --finding: this severity or worse.")(func)
    # An optional value: alone it lists every shared layer, with a digest the images holding it.
    return click.option("--shared-layer", "shared_layer", is_flag=False, flag_value="*", metavar="[DIGEST]",
                        help="Images sharing this layer; alone, every layer two or more images share.")(func)


def chosen_query(values: dict[str, Any]) -> tuple[str, str]:
    """(question, argument) of the one question flag given; UsageError for none or several."""
    given = [(name, value) for name, value in values.items() if value not in (None, False)]
    if len(given) != 1:
        flags = ", ".join(f for f, _, _, _ in _QUESTIONS) + ", --shared-layer"
        raise UsageError(f"give exactly one question: {flags}")
    name, value = given[0]
    question = name.replace("_", "-")
    if question == "shared-layer" and value == "*":
        return question, ""
    return question, "" if value is True else str(value)


class ScanProgress:
    """Tasks done out of all, as a rich bar on stderr: only on a terminal, never under CI or --quiet."""

    def __init__(self, ctx: Context) -> None:
        self._bar: Any = None
        from .progress import progress_allowed

        if progress_allowed(ctx):  # a terminal, not --quiet, not CI
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=ctx.console(stderr=True), transient=True)
            self._task = self._bar.add_task("scanning", total=None)

    def __enter__(self) -> "ScanProgress":
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def update(self, done: int, total: int) -> None:
        if self._bar:
            self._bar.update(self._task, completed=done, total=total)
