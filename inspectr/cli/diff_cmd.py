"""`inspectr diff A B`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..diff.difference import SEMANTIC_IGNORABLE, Cause, Change, Difference, FieldChange, Verdict
from ..diff.engine import ImagePair, compare_images, explain, index_pair
from ..diff.options import DiffOptions, load_policy
from ..errors import UsageError
from ..fs.export import ExportOptions, export_dir
from ..image import Image
from ..present.diff_json import difference_to_json, difference_to_junit, difference_to_sarif, identical_to_json
from ..present.diff_text import markdown_difference, render_difference, render_identical
from .common import Context, Progress, image_options, load_image, print_warnings

_IGNORE_FLAGS = {c: f"ignore_{c.value.replace('-', '_')}" for c in Cause if c is not Cause.CONTENT}


def _ignore_options(func: Any) -> Any:
    for cause, dest in reversed(list(_IGNORE_FLAGS.items())):
        func = click.option(f"--ignore-{cause.value}", dest, is_flag=True,
                            help=f"Accept differences of class {cause.value}.")(func)
    return func


def _describe(image: Image) -> dict[str, Any]:
    return {"reference": image.reference, "format": image.format, "platform": image.platform,
            "manifest_digest": str(image.manifest_digest) if image.manifest_digest else None,
            "config_digest": str(image.config_digest), "layers": len(image.layers)}


def _is_identical(a: Image, b: Image) -> bool:
    if a.manifest_digest is not None and a.manifest_digest == b.manifest_digest:
        return True
    return a.manifest is None and b.manifest is None and a.config_digest == b.config_digest


def _diff_one(ctx: Context, a: Image, b: Image, options: DiffOptions) -> tuple[ImagePair, Difference | None]:
    with Progress(ctx, a, "indexing both images") as progress:
        session = ctx.session(a.limits, progress)
        pair = index_pair(a, b, session=session)
    if _is_identical(a, b):
        return pair, None
    return pair, compare_images(pair, options, session=session)


def _write_report_dir(target: Path, pairs: list[tuple[ImagePair, Difference | None]]) -> None:
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"--report-dir {target}: directory is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for pair, diff in pairs:
        if diff is None:
            continue
        suffix = f"-{pair.a.platform.replace('/', '-')}" if len(pairs) > 1 else ""
        paths_a = {c.renamed_from or c.path for c in diff.changes if c.subject == "file" and c.change != "added"}
        paths_b = {c.path for c in diff.changes if c.subject == "file" and c.change != "removed"}
        export_dir(pair.a, pair.tree_a, str(target / f"a{suffix}"), ExportOptions(), only={p for p in paths_a if pair.tree_a.get(p)})
        export_dir(pair.b, pair.tree_b, str(target / f"b{suffix}"), ExportOptions(), only={p for p in paths_b if pair.tree_b.get(p)})


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
@click.option("--max-diff-bytes", type=click.IntRange(0), default=1 << 20, show_default=True,
              help="Largest file that gets a unified text diff.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.json and the differing files of both sides (a/, b/) here.")
@image_options
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "markdown", "sarif", "junit"]), default="text",
              show_default=True)
@click.pass_obj
def command(ctx: Context, /, image_a: str, image_b: str, semantic: bool, excludes: tuple[str, ...], policy: Path | None,
            all_platforms: bool, no_content: bool, max_diff_bytes: int, report_dir: Path | None, platform: str | None,
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
    options = DiffOptions(
        ignore=frozenset(ignore), excludes=excludes, acceptances=load_policy(policy) if policy else (),
        max_diff_bytes=max_diff_bytes, content=not no_content,
    )
    if all_platforms and platform:
        raise UsageError("--platform and --all-platforms cannot be combined")
    pairs: list[tuple[ImagePair, Difference | None]] = []
    extra: list[Change] = []
    described = ["?", "?"]
    if all_platforms:
        plats_a, described[0] = _platforms(ctx, image_a, limit_scale, limits)
        plats_b, described[1] = _platforms(ctx, image_b, limit_scale, limits)
        for p in sorted(set(plats_a) | set(plats_b)):
            if p not in plats_a or p not in plats_b:
                change = "added" if p not in plats_a else "removed"
                extra.append(Change("index", f"index.platforms.{p}", change, Cause.CONTENT,
                                    [FieldChange("platform", p if change == "removed" else None, p if change == "added" else None, Cause.CONTENT)],
                                    platform=p))
                continue
            a, b = load_image(ctx, image_a, p, limit_scale, limits), load_image(ctx, image_b, p, limit_scale, limits)
            pairs.append(_diff_one(ctx, a, b, options))
    else:
        a, b = load_image(ctx, image_a, platform, limit_scale, limits), load_image(ctx, image_b, platform, limit_scale, limits)
        pairs.append(_diff_one(ctx, a, b, options))
    result = _combine(pairs, extra, options)
    da = _describe(pairs[0][0].a) if pairs else {"reference": image_a, "format": described[0]}
    db = _describe(pairs[0][0].b) if pairs else {"reference": image_b, "format": described[1]}
    if result is not None and not pairs:
        result.a, result.b = da, db
    for pair, _ in pairs:
        print_warnings(ctx, pair.tree_a.warnings + pair.tree_b.warnings)
    if report_dir is not None:
        _write_report_dir(report_dir, pairs)
        with open(report_dir / "report.json", "w") as fp:
            json.dump(difference_to_json(result) if result else identical_to_json(da, db), fp, indent=2)
            fp.write("\n")
    if fmt == "json":
        json.dump(difference_to_json(result) if result else identical_to_json(da, db), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt == "markdown":
        markdown_difference(result, da, db, sys.stdout)
    elif fmt == "sarif":
        json.dump(difference_to_sarif(result, da, db), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt == "junit":
        sys.stdout.write(difference_to_junit(result, da, db).decode("utf-8") + "\n")
    elif result is None:
        render_identical(da, ctx.console())
    else:
        render_difference(result, ctx.console(), verbose=ctx.verbose)
    click.get_current_context().exit(1 if result is not None and result.verdict is Verdict.DIFFERENT else 0)


def _platforms(ctx: Context, reference: str, limit_scale: int, limits: tuple[str, ...]) -> tuple[list[str], str]:
    image = load_image(ctx, reference, "*", limit_scale, limits)
    return list(image.platforms) or [image.platform], image.format


def _combine(pairs: list[tuple[ImagePair, Difference | None]], extra: list[Change], options: DiffOptions) -> Difference | None:
    diffs = [(pair, d) for pair, d in pairs if d is not None]
    if not diffs and not extra:
        return None
    if len(pairs) == 1 and not extra:
        return diffs[0][1]
    changes: list[Change] = list(extra)
    for pair, d in diffs:
        for c in d.changes:
            c.platform = pair.a.platform
            changes.append(c)
    for c in extra:
        c.accepted_by = options.accept(c)
    verdict = Verdict.EQUIVALENT if all(c.accepted for c in changes) else Verdict.DIFFERENT
    first = diffs[0][1] if diffs else None
    explanation, hints = explain(changes, verdict)
    a = first.a if first else {"reference": "?", "format": "?"}
    b = first.b if first else {"reference": "?", "format": "?"}
    return Difference(a, b, verdict, changes, explanation, hints)
