"""`inspectr cat IMAGE PATH`."""

from __future__ import annotations

import shutil
import sys
import tempfile

import click

from ..errors import NotAFile, PathNotFound
from ..fs.build import build_tree
from ..fs.content import content_sources, stream_contents
from ..fs.entry import EntryKind
from .common import Context, Progress, image_options, load_image


@click.command("cat")
@click.argument("image")
@click.argument("path")
@image_options
@click.pass_obj
def command(ctx: Context, image: str, path: str, platform: str | None, limit_scale: int, limits: tuple[str, ...], strict: bool) -> None:
    """Write the bytes of the file at PATH in IMAGE to stdout.

    Symlinks are followed inside the image root only. The bytes are checked against the
    indexed sha256 before any of them is written. Example: `inspectr cat fixtures/oci-busybox etc/passwd`.
    """
    img = load_image(ctx, image, platform, limit_scale, limits)
    with Progress(ctx, img) as progress:
        tree = build_tree(img, strict=strict, session=ctx.session(img.limits, progress))
    node = tree.resolve(path)
    if node is None:
        raise PathNotFound(f"{path}: no such file in the image")
    if node.kind is not EntryKind.FILE:
        raise NotAFile(f"{path}: is a {node.kind.value}, not a regular file")
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        stream_contents(img, content_sources([node.inode]), lambda inode: spool.write, lambda inode: None, stop_early=True)
        spool.seek(0)
        out = sys.stdout.buffer
        shutil.copyfileobj(spool, out, 1 << 20)
        out.flush()
