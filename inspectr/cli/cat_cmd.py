"""`inspectr cat IMAGE PATH`."""

from __future__ import annotations

import shutil
import sys
import tempfile

import click

from ..errors import NotAFile, PathNotFound, UsageError
from ..fs.build import build_tree, index_refs
from ..fs.content import content_sources, stream_contents
from ..fs.entry import EntryKind
from ..fs.tree import Inode, Tree
from ..image import Image
from ..session import Session
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
        session = ctx.session(img.limits, progress)
        inode = _in_layer(img, path, layer, session) if layer is not None else _in_tree(build_tree(img, strict=strict, session=session), path)
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        stream_contents(img, content_sources([inode]), lambda inode: spool.write, lambda inode: None, stop_early=True,
                        session=session)
        spool.seek(0)
        out = sys.stdout.buffer
        shutil.copyfileobj(spool, out, 1 << 20)
        out.flush()


def _in_tree(tree: Tree, path: str) -> Inode:
    node = tree.resolve(path)
    if node is None:
        raise PathNotFound(f"{path}: no such file in the image")
    if node.kind is not EntryKind.FILE:
        raise NotAFile(f"{path}: is a {node.kind.value}, not a regular file")
    return node.inode


def _in_layer(img: Image, path: str, layer: int, session: Session) -> Inode:
    """The member named PATH in layer N's tar (a hardlink there leads to its target in that layer)."""
    if layer >= len(img.layers):
        raise UsageError(f"--layer {layer}: the image has {len(img.layers)} layers (0 to {len(img.layers) - 1})")
    entries = {e.path: e for e in index_refs([img.layers[layer]], img.limits, session=session)[0].entries}
    wanted = path.strip("/").removeprefix("./")
    entry = entries.get(wanted)
    for _ in range(8):  # a hardlink names another member of the same layer
        if entry is None or entry.kind is not EntryKind.HARDLINK or not entry.linkname:
            break
        entry = entries.get(entry.linkname.strip("/"))
    if entry is None:
        raise PathNotFound(f"{path}: not in layer {layer}")
    if entry.kind is not EntryKind.FILE:
        raise NotAFile(f"{path}: is a {entry.kind.value} in layer {layer}, not a regular file")
    return Inode(entry, layer)
