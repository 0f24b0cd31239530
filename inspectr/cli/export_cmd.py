"""`inspectr export IMAGE DIR|-`."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..fs.build import build_tree
from ..fs.export import ExportOptions, export_dir, export_tar
from ..present.safe import display_text
from .common import Context, Progress, image_options, load_image, notice, print_warnings


@click.command("export")
@click.argument("image")
@click.argument("dest")
@click.option("--keep-special-bits", is_flag=True, help="Keep setuid/setgid bits (stripped by default).")
@click.option("--xattrs", is_flag=True,
              help="Set extended attributes: user.*, and security.* with --keep-special-bits; never trusted.*/system.*.")
@click.option("--same-owner", is_flag=True, help="Restore the image's uid/gid on every entry (needs root).")
@click.option("--devices", is_flag=True, help="Create char and block device nodes (needs root); skipped by default.")
@image_options
@click.pass_obj
def command(ctx: Context, image: str, dest: str, keep_special_bits: bool, xattrs: bool, same_owner: bool, devices: bool,
            platform: str | None,
            limit_scale: int, limits: tuple[str, ...], strict: bool) -> None:
    """Materialise the merged filesystem of IMAGE into DEST, a new or empty directory, or as a
    flat tar on stdout when DEST is `-`.

    Every write is relative to a directory fd and never follows a symlink, so nothing is written
    outside DEST. What would give the files power on the host is opt-in: setuid/setgid bits,
    file capabilities, ownership and device nodes; skipped ones are reported as warnings.
    Example: `inspectr export fixtures/oci-busybox /tmp/rootfs`.
    """
    img = load_image(ctx, image, platform, limit_scale, limits)
    if dest == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a tar to a terminal; redirect stdout or give a directory")
    with Progress(ctx, img) as progress:
        tree = build_tree(img, strict=strict, session=ctx.session(img.limits, progress))
    if dest == "-":
        report = export_tar(img, tree, sys.stdout.buffer)
    else:
        report = export_dir(img, tree, dest, ExportOptions(keep_special_bits=keep_special_bits, xattrs=xattrs,
                                                           ownership=same_owner, devices=devices))
    print_warnings(ctx, tree.warnings)  # after the export: a failed one says one line (docs/errors.md)
    for warning in report.warnings[:20]:
        notice(ctx, f"warning: {display_text(warning)}")
    if len(report.warnings) > 20:
        notice(ctx, f"... and {len(report.warnings) - 20} more warnings")
    notice(ctx, f"exported {report.files} files, {report.dirs} dirs, {report.symlinks} symlinks, "
                f"{report.hardlinks} hardlinks, {report.devices} special files, {report.bytes} bytes")
