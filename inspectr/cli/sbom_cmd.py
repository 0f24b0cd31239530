"""`inspectr sbom IMAGE`."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from ..packages.inventory import image_inventory
from ..present.table import present
from .common import Context, Progress, format_option, image_options, output_file, parse_limits, print_warnings


@click.command("sbom")
@click.argument("image")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the SBOM to this file instead of standard output.")
@image_options
@format_option("cyclonedx", "spdx", "text", "json")
@click.pass_obj
def command(ctx: Context, image: str, output: Path | None, platform: str | None, limit_scale: int,
            limits: tuple[str, ...], strict: bool, fmt: str) -> None:
    """List the packages IMAGE holds, with the layer that installed each, as an SBOM.

    Reads dpkg (status, status.d, md5sums), apk, rpm (rpmdb.sqlite), Python dist-info, npm
    node_modules and lockfiles, Go binaries' build info and jars' pom.properties, from the same
    verified pass that indexes the layers. Formats: CycloneDX 1.6 JSON, SPDX 2.3 JSON, a text
    table, or inspectr's own JSON. Example: `inspectr sbom fixtures/packages/layout:app-v2 -f spdx`.
    """
    session = ctx.session(parse_limits(limit_scale, limits))
    img = session.open_image(image, platform)
    with Progress(ctx, img) as progress:
        inventory = image_inventory(img, session=ctx.session(img.limits, progress), file_hashes=fmt in ("cyclonedx", "spdx"))
    if output is None:
        present(inventory, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose)
    else:
        text = io.StringIO()  # rendered whole first: a failure leaves no half-written SBOM
        present(inventory, fmt, text)
        with output_file(output, "w") as fp:
            fp.write(text.getvalue())
    print_warnings(ctx, list(inventory.notices))
