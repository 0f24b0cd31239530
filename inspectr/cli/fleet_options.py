"""The flags `fleet scan` and `fleet query` share or ask one by one, and the scan's progress bar."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from ..errors import UsageError
from .common import Context
from .trust_options import keyless_options

if TYPE_CHECKING:
    from ..fleet.trust import FleetTrust
    from ..verify.keyless import IdentityPolicy

__all__ = ["store_option", "QUESTION_OPTIONS", "chosen_query", "ScanProgress", "fleet_trust_options"]

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


def fleet_trust_options(func: F) -> F:
    """--key, --keyring, --require-signature and the keyless identity flags, as `verify` has
    them; the command gets one `trust` value holding the files' contents, read here."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        policy, root = kwargs.pop("keyless")
        kwargs["trust"] = _fleet_trust(kwargs.pop("keys"), kwargs.pop("keyrings"), policy, root,
                                       kwargs.pop("require_signature"))
        return func(*args, **kwargs)

    out: Any = keyless_options(wrapper)
    out = click.option("--require-signature", is_flag=True, help="An image with no valid signature fails verification.")(out)
    out = click.option("--keyring", "keyrings", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="OpenPGP public keys for simple signing. Repeatable.")(out)
    out = click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="cosign public key (PEM). Repeatable.")(out)
    return out  # type: ignore[no-any-return]


def _fleet_trust(keys: tuple[Path, ...], keyrings: tuple[Path, ...], policy: "IdentityPolicy", root: Path | None,
                 require: bool) -> "FleetTrust":
    from ..fleet.trust import FleetTrust
    from ..userfiles import KEY_MAX_BYTES, read_user_file
    from ..verify.keyless import load_trust_root
    from ..verify.keys import load_keyring, parse_public_key

    pems = []
    for path in keys:
        data = read_user_file(path, "--key file", KEY_MAX_BYTES)
        parse_public_key(data, path.name, f"--key {path}")  # a bad key is an error here, not on every worker
        pems.append((path.name, data))
    root_bytes = None
    if root is not None:
        load_trust_root(root)
        root_bytes = read_user_file(root, "trusted root", KEY_MAX_BYTES)
    return FleetTrust(tuple(pems), tuple(load_keyring(p) for p in keyrings), policy, root_bytes, require)
