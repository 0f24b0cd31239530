"""`inspectr pull docker://REF DEST`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import UsageError
from ..model import Platform
from ..present.text import human_size
from .common import Context, Progress, notice, registry_options


@click.command("pull")
@click.argument("image")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["oci", "oci-archive"]), default=None,
              help="An OCI layout directory, or a tar of one (default: oci-archive when DEST ends in .tar).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Save only this platform of a multi-platform index.")
@click.option("--no-attachments", is_flag=True, help="Do not fetch signatures, attestations and referrers.")
@registry_options
@click.pass_obj
def command(ctx: Context, image: str, dest: Path, fmt: str | None, platform: str | None, no_attachments: bool) -> None:
    """Save a registry image as a verified OCI layout (or archive) for offline review, with its
    cosign .sig/.att manifests and OCI referrers, so `inspectr verify oci:DEST` works offline.

    Every blob's size and digest are checked before anything is written; DEST appears in one
    rename. Example: `inspectr pull docker://alpine:3.19 alpine-oci`.
    """
    from ..sources.pull import pull_image

    if not image.startswith("docker://"):
        raise UsageError(f"{image}: pull takes a registry reference (docker://HOST/REPO[:TAG|@DIGEST])")
    want = Platform.parse(platform) if platform else None
    with Progress(ctx, None, "pulling", min_bytes=0, unit="blobs") as progress:
        result = pull_image(image, dest, fmt or ("oci-archive" if dest.suffix == ".tar" else "oci"), want,
                            attachments=not no_attachments, session=ctx.session(progress=progress))
    for problem in result.problems:
        notice(ctx, f"warning: {problem}")
    names = ", ".join(n for n in result.names if n)
    sys.stdout.write(f"{result.dest}: {result.format}, {result.blobs} blobs ({human_size(result.bytes)}), "
                     f"{result.top_digest}; index.json names: {names or '(none)'}\n")
