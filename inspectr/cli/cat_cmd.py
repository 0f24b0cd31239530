"""`inspectr cat IMAGE PATH`."""

from __future__ import annotations

import shutil
import sys

import click

from ..fs.content import read_file
from .common import Context, Progress, image_options, load_image


@click.command("cat")
@click.argument("image")
@click.argument("path")
@click.option("--layer", type=click.IntRange(min=0), metavar="N",
              help="The file as layer N's own tar holds it, even when a later layer deleted or replaced it (see ls --deleted).")
@image_options
@click.pass_obj
def command(ctx: Context, image: str, path: str, layer: int | None, platform: str | None, limit_scale: int, limits: tuple[str, ...],
            strict: bool) -> None:
    """Write the bytes of the file at PATH in IMAGE to stdout.

    Symlinks are followed inside the image root only. The bytes are checked against the
    indexed sha256 before any of them is written. Example: `inspectr cat fixtures/oci-busybox etc/passwd`.
    """
    img = load_image(ctx, image, platform, limit_scale, limits)
    with Progress(ctx, img) as progress:
        spool = read_file(img, path, layer=layer, session=ctx.session(img.limits, progress), strict=strict)
    with spool:
        out = sys.stdout.buffer
        shutil.copyfileobj(spool, out, 1 << 20)
        out.flush()
