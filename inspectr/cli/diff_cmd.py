"""`inspectr diff A B`."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import click

from ..diff.difference import SEMANTIC_IGNORABLE, Cause, Verdict
from ..diff.options import DiffOptions, load_policy
from ..diff.run import diff_references, write_report_dir
from ..present.table import present
from .common import Context, Progress, format_option, image_options, parse_limits, print_warnings

_IGNORE_FLAGS = {c: f"ignore_{c.value.replace('-', '_')}" for c in Cause if c is not Cause.CONTENT}


def _ignore_options(func: Any) -> Any:
    for cause, dest in reversed(list(_IGNORE_FLAGS.items())):
        func = click.option(f"--ignore-{cause.value}", dest, is_flag=True,
                            help=f"Accept differences of class {cause.value}.")(func)
    return func


@click.command("diff")
@click.argument("image_a")
@click.argument("image_b")
@click.option("--semantic", is_flag=True,
              help="Accept timestamps, history, tar order/format, compression, image format/names and layer boundaries.")
@_ignore_options
@click.option("--exclude", "excludes", multiple=True, metavar="GLOB",
              help="Accept every difference under this path glob (** crosses directories). Repeatable.")
@click.option("--policy", "policy", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file of accepted differences ([[accept]] path, cause, field, reason, expires).")
@click.option("--all-platforms", is_flag=True, help="Compare every platform of two indexes.")
@click.option("--no-content", is_flag=True, help="Do not re-read changed files (no text diffs, no content classes).")
@click.option("--packages-only", is_flag=True, help="Release-notes view: packages added, removed, upgraded, downgraded.")
@click.option("--full", is_flag=True, help="Text: one entry per change instead of the summary (groups of like changes).")
@click.option("--max-lines", type=click.IntRange(0), default=0, metavar="N", help="Text: at most N lines (0: no limit).")
@click.option("--max-diff-bytes", type=click.IntRange(0), default=1 << 20, show_default=True,
              help="Largest file that gets a unified text diff.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.json, report.html and the differing files of both sides (a/, b/) here.")
@image_options
@format_option("text", "json", "markdown", "sarif", "junit", "html")
@click.pass_obj
def command(ctx: Context, /, image_a: str, image_b: str, semantic: bool, excludes: tuple[str, ...], policy: Path | None,
            all_platforms: bool, no_content: bool, packages_only: bool, full: bool, max_lines: int, max_diff_bytes: int, report_dir: Path | None, platform: str | None,
            limit_scale: int, limits: tuple[str, ...], strict: bool, fmt: str, **ignores: bool) -> None:
    """Explain what differs between two images and why.

    Compares index, manifest, config, history, layers and the merged filesystem (correct
    whatever the layer counts), classes every difference by cause, and ends with a verdict:
    identical (same manifest digest), equivalent (only accepted differences) or different.
    Exit 0 identical or equivalent, 1 different, 2 error.
    Example: `inspectr diff --semantic build1.tar build2.tar`.
    """
    ignore = set(SEMANTIC_IGNORABLE if semantic else DiffOptions().ignore)
    ignore |= {cause for cause, dest in _IGNORE_FLAGS.items() if ignores.get(dest)}
    options = DiffOptions(ignore=frozenset(ignore), excludes=excludes, acceptances=load_policy(policy) if policy else (),
                          max_diff_bytes=max_diff_bytes, content=not no_content, packages_only=packages_only)
    result = diff_references(image_a, image_b, options, session=ctx.session(parse_limits(limit_scale, limits)),
                             platform=platform, all_platforms=all_platforms,
                             progress=lambda a, b: Progress(ctx, (a, b)))
    gc.freeze()  # its trees live until exit: a collection walking them again would cost 0.1 s
    for warnings in result.warnings:
        print_warnings(ctx, warnings)
    if report_dir is not None:
        write_report_dir(report_dir, result)
        for name, report_fmt in (("report.json", "json"), ("report.html", "html")):
            with open(report_dir / name, "w", encoding="utf-8") as fp:
                present(result, report_fmt, fp)
    present(result, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose, full=full, max_lines=max_lines or None)
    click.get_current_context().exit(1 if result.verdict is Verdict.DIFFERENT else 0)
