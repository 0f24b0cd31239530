"""Options and helpers shared by the commands."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

import click

from ..fs.cache import LayerCache
from ..image import Image
from ..errors import DiskFull, UsageError, WriteError, write_error_class
from ..limits import Limits, parse_limit
from ..registry import RegistrySettings
from ..session import Progress as SessionProgress, Session
from ..sources.detect import open_image
from .progress import Progress as Progress  # the commands' import of it

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    """What the global and registry flags said; `session()` turns it into the engines' Session."""

    verbose: bool = False
    quiet: bool = False  # --quiet: no progress, no notices on stderr; errors still
    color: str = "auto"
    cache_dir: Path | None = None  # None: --no-cache
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    terminated: bool = False  # set by the SIGTERM handler, for the exit status (143)

    @property
    def cache(self) -> LayerCache | None:
        return LayerCache(self.cache_dir) if self.cache_dir is not None else None

    def session(self, limits: Limits | None = None, progress: "SessionProgress | None" = None) -> Session:
        return Session(limits=limits or Limits(), cache=self.cache, progress=progress, registry=self.registry)

    def colour(self, stream: TextIO) -> bool:
        """Whether to style output on `stream`: --color always or never, else a terminal and no
        NO_COLOR (no-color.org: set and not empty; an explicit --color always wins over it)."""
        if self.color != "auto":
            return self.color == "always"
        return not os.environ.get("NO_COLOR") and stream.isatty()

    def console(self, stderr: bool = False) -> "Console":
        from rich.console import Console  # imported on use: commands that print no tables start faster
        stream = sys.stderr if stderr else sys.stdout
        colour = self.colour(stream)
        return Console(
            width=output_width(stream),
            stderr=stderr,
            force_terminal=True if self.color == "always" else None,
            # No colour means no styles at all: rich's no_color still sends bold and dim.
            color_system="auto" if colour else None,
            no_color=not colour,  # rich reads NO_COLOR itself; an explicit --color always wins
            highlight=False,
            soft_wrap=True,  # text outside tables is never cut: digests and paths stay whole
        )


def _registry_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Registry flags go into the run's registry settings (part of its Session)."""
    if value is None or param.name is None:
        return  # click calls back for unset flags too: nothing to import for a local image
    from ..registry.auth import check_authfile, parse_creds

    state = ctx.ensure_object(Context)
    settings = state.registry
    options = settings.options
    match param.name:
        case "tls_verify":
            options = replace(options, tls_verify=value)
        case "cert_dir":
            options = replace(options, cert_dir=Path(value))
        case "authfile":
            try:
                check_authfile(Path(value))
            except UsageError as err:
                raise click.BadParameter(err.message) from None
            options = replace(options, authfile=Path(value))
        case "creds":
            try:
                options = replace(options, creds=parse_creds(value))
            except UsageError as err:
                raise click.BadParameter(err.message.removeprefix("--creds: ")) from None
    state.registry = replace(settings, options=options)


def registry_options(func: F) -> F:
    """--tls-verify, --cert-dir, --authfile, --creds: for `docker://` references."""
    func = click.option("--creds", metavar="USER[:PASSWORD]", expose_value=False, callback=_registry_flag,
                        help="Registry credentials (else --authfile, auth.json, ~/.docker/config.json).")(func)
    func = click.option("--authfile", metavar="FILE", type=click.Path(dir_okay=False), expose_value=False,
                        callback=_registry_flag, help="Registry auth file (containers auth.json or docker config.json).")(func)
    func = click.option("--cert-dir", metavar="DIR", type=click.Path(file_okay=False), expose_value=False,
                        callback=_registry_flag, help="Trust the CA certificates (*.crt) in DIR; *.cert/*.key are client certificates.")(func)
    func = click.option("--tls-verify", type=click.BOOL, default=None, metavar="BOOL", expose_value=False,
                        callback=_registry_flag,
                        help="Verify registry TLS certificates (default true); false also allows plain HTTP.")(func)
    return func


def image_options(func: F) -> F:
    """--platform, the limit flags and the registry flags, for every command that opens an image."""
    func = registry_options(func)
    func = click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pick this platform from a multi-platform index.")(func)
    func = click.option(
        "--limit-scale", type=click.IntRange(1, 1 << 20), default=1, show_default=True,
        help="Multiply every resource limit (bytes, entries, path length) by this factor.",
    )(func)
    func = click.option(
        "--limit", "limits", multiple=True, metavar="NAME=VALUE",
        help="Raise (or lower) one resource limit, e.g. --limit max_layer_bytes=200G (see docs/security.md).",
    )(func)
    func = click.option("--strict", is_flag=True, help="Fail on duplicate entries instead of warning (R3).")(func)
    return func


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option("-f", "--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True,
                        help="Output format.")


def parse_limits(limit_scale: int = 1, overrides: tuple[str, ...] = ()) -> Limits:
    """--limit-scale and --limit NAME=VALUE as one Limits value."""
    limits = Limits() if limit_scale == 1 else Limits().scaled(limit_scale)
    if overrides:
        try:
            limits = limits.with_overrides(dict(parse_limit(text) for text in overrides))
        except ValueError as err:
            raise UsageError(f"--limit {err}") from None
    return limits


def load_image(ctx: Context, reference: str, platform: str | None, limit_scale: int, overrides: tuple[str, ...] = ()) -> Image:
    return open_image(reference, platform=platform, session=ctx.session(parse_limits(limit_scale, overrides)))


def output_width(stream: TextIO) -> int:
    """Columns for tables: $COLUMNS when set, else the terminal's width, else 80 (a pipe)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 20:
        return int(columns)
    try:
        if stream.isatty() and os.get_terminal_size(stream.fileno()).columns >= 20:  # a new pty says 0
            return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        pass
    return 80


def notice(ctx: Context, text: str) -> None:
    """A line for the user on stderr beside the result (a summary, a warning); not with --quiet."""
    if not ctx.quiet:
        sys.stderr.write(f"inspectr: {text}\n")


def print_warnings(ctx: Context, warnings: list[Any]) -> None:
    """Warnings go to stderr: a count, or each one with --verbose (none with --quiet)."""
    if not warnings or ctx.quiet:
        return
    from ..present.safe import display_text

    if ctx.verbose:
        for w in warnings:
            sys.stderr.write(f"inspectr: warning[{w.code}]: {display_text(w.message)}\n")
    else:
        codes: dict[str, int] = {}
        for w in warnings:
            codes[w.code] = codes.get(w.code, 0) + 1
        summary = ", ".join(f"{c} x{n}" for c, n in sorted(codes.items()))
        sys.stderr.write(f"inspectr: {len(warnings)} warning(s): {summary} (use -v for details)\n")


def write_failure(err: OSError, where: str) -> WriteError:
    """An OSError while writing `where`, as the error class users can act on."""
    if write_error_class(err) is DiskFull:
        return DiskFull(f"{where}: no space left on device", hint="free space there, or write elsewhere")
    return WriteError(f"{where}: cannot write: {err.strerror or err}")


@contextlib.contextmanager
def output_file(path: Path, mode: str) -> Iterator[TextIO]:
    """A report file the user named (`-`: standard output, as every Unix tool reads it):
    failures to open, write or close it are write errors."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        with open(path, mode, encoding="utf-8") as fp:
            yield fp  # type: ignore[misc]  # open() in a text mode is a TextIO
    except OSError as err:
        raise write_failure(err, str(path)) from None
