"""`inspectr cache ls|prune`."""

from __future__ import annotations

import sys

import click

from ..fs.cache import LayerCache
from ..present.text import human_size
from .common import Context


@click.group("cache")
def command() -> None:
    """Show or prune the layer-index cache (indexes keyed by verified layer digest)."""


def _cache(ctx: Context) -> LayerCache:
    if ctx.cache is None:
        raise click.UsageError("--no-cache: there is no cache to show")
    return ctx.cache


@command.command("ls")
@click.pass_obj
def ls_command(ctx: Context) -> None:
    """List cached layer indexes: size, last use and key (digest|media type|diff_id|scan)."""
    cache = _cache(ctx)
    entries = cache.entries()
    for e in entries:
        sys.stdout.write(f"{human_size(e.size):>10}  {e.key}\n")
    sys.stderr.write(f"inspectr: {len(entries)} entries in {cache.dir}\n")


@command.command("prune")
@click.option("--older-than", type=float, metavar="DAYS", help="Only entries unused for this many days.")
@click.pass_obj
def prune_command(ctx: Context, older_than: float | None) -> None:
    """Remove cached layer indexes (all, or those unused for --older-than DAYS)."""
    count, size = _cache(ctx).prune(older_than)
    sys.stderr.write(f"inspectr: removed {count} entries ({human_size(size)})\n")
