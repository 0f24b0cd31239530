"""`inspectr behave A B`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..present.table import present
from ..runtime.spec import RuntimeError_
from ..runtime.behave import Probe, behave, default_probes, load_probes
from ..runtime.spec import RunOptions
from .common import Context, format_option, image_options, load_image
from .run_options import runtime_options, runtime_settings


@click.command("behave")
@click.argument("image_a")
@click.argument("image_b")
@click.option("--probe", "probes", multiple=True, metavar="CMD", help="Run CMD with the image's /bin/sh -c. Repeatable.")
@click.option("--probes", "probes_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file of [[probe]] tables (name, sh or argv, timeout) for images without a shell.")
@click.option("--repeat", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Runs per probe in A, to tell noisy fields from differences.")
@click.option("--normalize", "normalisers", multiple=True, metavar="REGEX",
              help="Replace matches in stdout/stderr before comparing. Repeatable.")
@runtime_options
@image_options
@click.option("--userns", is_flag=True, help="Run probes in a user namespace: root in the image is an unprivileged host uid.")
@format_option("text", "json", "markdown", "html")
@click.pass_obj
def command(ctx: Context, /, image_a: str, image_b: str, probes: tuple[str, ...], probes_file: Path | None, repeat: int,
            normalisers: tuple[str, ...], userns: bool, platform: str | None, limit_scale: int, limits: tuple[str, ...],
            strict: bool, fmt: str, **runtime: Any) -> None:
    """Run the same probes in IMAGE_A and IMAGE_B, each in inspectr's runtime under one
    determinism recipe (fixed hostname, env and user, ASLR off, one CPU), and compare exit code,
    stdout, stderr and side effects. Fields that vary between runs of A are reported as
    nondeterministic, not as differences. Needs root. Exit 0 same, 1 different, 2 error.
    Example: `inspectr behave a.tar b.tar --probe 'cat /etc/os-release'`.
    """
    base = RunOptions(**runtime_settings(runtime))
    a, b = load_image(ctx, image_a, platform, limit_scale, limits), load_image(ctx, image_b, platform, limit_scale, limits)
    chosen = [Probe(p, ("/bin/sh", "-c", p)) for p in probes]
    if probes_file:
        chosen += load_probes(probes_file)
    report = behave(a, b, chosen or default_probes(a), repeat, list(normalisers), session=ctx.session(a.limits),
                    userns=userns, base=base)
    failed = [o for o in report.outcomes if o.verdict == "error"]
    if failed:  # a probe that cannot run says nothing about behaviour: not "different", an error
        raise RuntimeError_(f"probe {failed[0].probe.name!r} could not run: {failed[0].error}"
                            + (f" ({len(failed)} of {len(report.outcomes)} probes could not run)" if len(failed) > 1 else ""))
    present(report, fmt, sys.stdout)
    click.get_current_context().exit(0 if report.same else 1)
