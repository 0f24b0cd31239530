"""`inspectr behave A B`."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path

import click

from ..present.safe import display_text, markdown_text
from ..runtime.behave import Probe, behave, default_probes, load_probes
from .common import Context, image_options, load_image


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
@image_options
@click.option("--userns", is_flag=True, help="Run probes in a user namespace: root in the image is an unprivileged host uid.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.pass_obj
def command(ctx: Context, image_a: str, image_b: str, probes: tuple[str, ...], probes_file: Path | None, repeat: int,
            normalisers: tuple[str, ...], userns: bool, platform: str | None, limit_scale: int, limits: tuple[str, ...],
            strict: bool, fmt: str) -> None:
    """Run the same probes in IMAGE_A and IMAGE_B, each in inspectr's runtime under one
    determinism recipe (fixed hostname, env and user, ASLR off, one CPU), and compare exit code,
    stdout, stderr and side effects. Fields that vary between runs of A are reported as
    nondeterministic, not as differences. Needs root. Exit 0 same, 1 different, 2 error.
    Example: `inspectr behave a.tar b.tar --probe 'cat /etc/os-release'`.
    """
    a, b = load_image(ctx, image_a, platform, limit_scale, limits), load_image(ctx, image_b, platform, limit_scale, limits)
    chosen = [Probe(p, ("/bin/sh", "-c", p)) for p in probes]
    if probes_file:
        chosen += load_probes(probes_file)
    report = behave(a, b, chosen or default_probes(a), repeat, list(normalisers), session=ctx.session(a.limits),
                    userns=userns)
    if fmt == "json":
        json.dump({"format_version": 1, "kind": "behave", "a": report.a, "b": report.b, "same": report.same,
                   "probes": [o.to_json() for o in report.outcomes]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt == "markdown":
        sys.stdout.write(f"### {'✅' if report.same else '❌'} inspectr behave: **{'same' if report.same else 'different'}**\n\n"
                         "| probe | verdict | differing fields | nondeterministic |\n|---|---|---|---|\n")
        for o in report.outcomes:
            sys.stdout.write(f"| {markdown_text(o.probe.name)} | {o.verdict} | {', '.join(o.differences)} | "
                             f"{', '.join(o.nondeterministic)} |\n")
    else:
        sys.stdout.write(("same" if report.same else "different") + "\n")
        for o in report.outcomes:
            line = f"  {o.verdict:<22} {display_text(o.probe.name)}"
            if o.nondeterministic:
                line += f"  (nondeterministic: {', '.join(o.nondeterministic)})"
            if o.error:
                line += f"  error: {display_text(o.error)}"
            sys.stdout.write(line + "\n")
            for name, d in o.differences.items():
                va, vb = d["a"], d["b"]
                if isinstance(va, dict):  # stdout/stderr: a line diff of the captured text
                    sys.stdout.write(f"      {name}:\n")
                    lines = difflib.unified_diff(va["text"].splitlines(), vb["text"].splitlines(), lineterm="", n=1)
                    for text in list(lines)[2:42]:  # past the ---/+++ header; at most 40 lines
                        sys.stdout.write(f"        {display_text(text)}\n")
                    continue
                sys.stdout.write(f"      {name}: {display_text(str(va))[:200]} -> {display_text(str(vb))[:200]}\n")
    click.get_current_context().exit(0 if report.same else 1)
