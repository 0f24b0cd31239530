"""`inspectr cache ls|prune`."""

from __future__ import annotations

import sys

import click

from ..fs.cache import LayerCache
from ..registry.blobcache import BlobCache
from ..runtime.rootfs import prune_unpacked, unpacked_dirs
from ..present.text import human_size
from .common import Context, notice


@click.group("cache")
def command() -> None:
    """Show or prune the cache: layer indexes (keyed by verified layer digest), blobs pulled
    from registries (keyed by digest) and layers unpacked for `run`/`behave` (keyed by ChainID)."""


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
    blobs = BlobCache(cache.dir).entries()
    for b in blobs:
        sys.stdout.write(f"{human_size(b.size):>10}  blob {b.digest}\n")
    unpacked = unpacked_dirs(cache.dir / "rootfs")
    for path, size, _ in unpacked:
        sys.stdout.write(f"{human_size(size):>10}  rootfs {path.parent.name}/{path.name}\n")
    notice(ctx, f"{len(entries)} layer indexes, {len(blobs)} pulled blobs ({human_size(sum(b.size for b in blobs))}) "
                f"and {len(unpacked)} unpacked run layers ({human_size(sum(u[1] for u in unpacked))}) in {cache.dir}")


@command.command("prune")
@click.option("--older-than", type=float, metavar="DAYS", help="Only entries unused for this many days.")
@click.pass_obj
def prune_command(ctx: Context, older_than: float | None) -> None:
    """Remove cached layer indexes and pulled blobs (all, or those unused for --older-than DAYS)."""
    cache = _cache(ctx)
    count, size = cache.prune(older_than)
    more, more_size = BlobCache(cache.dir).prune(older_than)
    unpacked, unpacked_size = prune_unpacked(older_than, cache.dir / "rootfs")
    count, size = count + more + unpacked, size + more_size + unpacked_size
    notice(ctx, f"removed {count} entries ({human_size(size)})")
