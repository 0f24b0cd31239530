"""`inspectr ls IMAGE [PATH]`."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..fs.build import build_tree, index_refs
from ..present.ls import list_deleted, list_layer, list_tree
from ..present.table import present
from .common import Context, Progress, format_option, image_options, load_image, print_warnings


@click.command("ls")
@click.argument("image")
@click.argument("path", required=False, default="")
@click.option("--layer", "layer", type=int, default=None, metavar="N",
              help="List the entries of layer N as stored (whiteouts and hardlinks included).")
@click.option("--deleted", is_flag=True, help="List entries that lower layers had and later layers removed.")
@image_options
@format_option("text", "json")
@click.pass_obj
def command(ctx: Context, image: str, path: str, layer: int | None, deleted: bool, platform: str | None,
            limit_scale: int, limits: tuple[str, ...], strict: bool, fmt: str) -> None:
    """List the merged filesystem of IMAGE (or one layer), with the layer each entry came from.

    PATH narrows the listing to that path and what is below it; symlinks in PATH are followed
    inside the image. Example: `inspectr ls fixtures/oci-layered --deleted`.
    """
    img = load_image(ctx, image, platform, limit_scale, limits)
    prefix = path.strip("/")
    if layer is not None:
        if deleted:
            raise UsageError("--layer and --deleted cannot be combined")
        if not 0 <= layer < len(img.layers):
            raise UsageError(f"--layer {layer}: image has {len(img.layers)} layers (0..{len(img.layers) - 1})")
        index = index_refs([img.layers[layer]], img.limits, session=ctx.session(img.limits))[0]
        present(list_layer(index.entries, layer, prefix), fmt, sys.stdout)
        print_warnings(ctx, index.notices)
        return
    with Progress(ctx, img) as progress:
        tree = build_tree(img, strict=strict, session=ctx.session(img.limits, progress))
    present(list_deleted(tree, prefix) if deleted else list_tree(tree, prefix), fmt, sys.stdout)
    print_warnings(ctx, tree.warnings)
