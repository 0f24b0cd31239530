"""`inspectr ls IMAGE [PATH]`."""

from __future__ import annotations

import base64
import sys
from typing import Any, Iterator

import click

from ..errors import PathNotFound, UsageError
from ..fs.build import build_tree, index_refs
from ..fs.entry import Entry, EntryKind
from ..fs.tree import Node, Removed, Tree
from ..present.json import dump_records
from ..present.text import render_entries, render_nodes, render_removed
from .common import Context, Progress, format_option, image_options, load_image, print_warnings


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def entry_record(e: Entry, layer: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": e.path,
        "type": e.kind.value,
        "mode": e.mode,
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size if e.kind is EntryKind.FILE else 0,
        "sha256": e.sha256.hex() if e.sha256 is not None else None,
        "linkname": e.linkname,
        "mtime": e.mtime_ns // 1_000_000_000,
        "mtime_ns": e.mtime_ns,
        "layer": layer,
    }
    if e.kind in (EntryKind.CHAR, EntryKind.BLOCK):
        out["devmajor"], out["devminor"] = e.devmajor, e.devminor
    if e.xattrs:
        out["xattrs"] = {k: base64.b64encode(v).decode("ascii") for k, v in sorted(e.xattrs.items())}
    if e.raw_name is not None:
        out["raw_name"] = e.raw_name
    return out


def removed_record(r: Removed) -> dict[str, Any]:
    record = r.node.to_json()
    record["path"] = r.path
    record["deleted_in"] = r.layer
    record["reason"] = r.reason
    return record


def _subtree(tree: Tree, path: str) -> Iterator[Node]:
    """Resolved before anything is written, so an error never leaves partial output."""
    if not path:
        return tree.walk()
    node = tree.resolve(path)
    if node is None:
        node = tree.resolve(path, follow_last=False)  # a dangling symlink is still listable
    if node is None:
        raise PathNotFound(f"{path}: no such path in the image")
    if not node.children:
        return iter([node])
    return tree.walk(node, include_start=True)


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
        entries = [e for e in index.entries if _under(e.path, prefix)]
        if fmt == "json":
            dump_records((entry_record(e, layer) for e in entries), sys.stdout)
        else:
            render_entries(entries, layer, sys.stdout)
        print_warnings(ctx, index.notices)
        return
    with Progress(ctx, img) as progress:
        tree = build_tree(img, strict=strict, session=ctx.session(img.limits, progress))
    if deleted:
        removed = sorted((r for r in tree.deleted if _under(r.path, prefix)), key=lambda r: (r.path, r.layer))
        if fmt == "json":
            dump_records((removed_record(r) for r in removed), sys.stdout)
        else:
            render_removed(removed, sys.stdout)
    else:
        nodes = _subtree(tree, prefix)
        if fmt == "json":
            dump_records((n.to_json() for n in nodes), sys.stdout)
        else:
            render_nodes(nodes, sys.stdout)
    print_warnings(ctx, tree.warnings)
