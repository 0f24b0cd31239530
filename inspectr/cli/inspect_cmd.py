"""`inspectr inspect IMAGE`."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from ..fs.build import index_layers
from ..fs.tree import apply_layers
from ..present.table import present
from ..summary import summarise_image
from ..verify.engine import attached_provenance
from .common import Context, Progress, format_option, image_options, parse_limits, print_warnings


@click.command("inspect")
@click.argument("image")
@image_options
@format_option("text", "json")
@click.option("--no-layers", is_flag=True,
              help="Read index, manifest and config only (each verified); no layer is read, or pulled from a registry.")
@click.pass_obj
def command(ctx: Context, image: str, platform: str | None, limit_scale: int, limits: tuple[str, ...], strict: bool, fmt: str,
            no_layers: bool) -> None:
    """Show format, digests, platforms, config and layers of IMAGE.

    Every layer is streamed once and verified (digest, size, diff_id) to count its entries and
    uncompressed size; `--no-layers` skips that (those fields are then null). Example:
    `inspectr inspect fixtures/oci-busybox`.
    """
    session = ctx.session(parse_limits(limit_scale, limits))
    container = session.open_container(image, attachments=True)  # opened once: the image and what is attached to it
    img = session.open_image(container, platform)
    provenance = attached_provenance(container, session)
    if no_layers:
        present(replace(summarise_image(img, None), provenance=provenance), fmt, sys.stdout, console=ctx.console)
        print_warnings(ctx, list(img.notices))
        return
    with Progress(ctx, img) as progress:
        indexes = index_layers(img, session=ctx.session(img.limits, progress))
    tree = apply_layers(indexes, img.limits, strict)  # an image that cannot be merged is an error
    tree.warnings += img.notices
    present(replace(summarise_image(img, indexes), provenance=provenance), fmt, sys.stdout, console=ctx.console)
    print_warnings(ctx, tree.warnings)
