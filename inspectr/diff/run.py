"""`diff` from references to one result: open both sides through the session (one platform or
every platform of two indexes), the "identical" rule, index-level comparison, and the
`--report-dir` copies of the differing files."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

from ..errors import UsageError
from ..fs.export import ExportOptions, export_dir
from ..fs.gcpause import gc_paused
from ..image import Image
from ..notice import Notice
from ..session import Progress, Session
from .difference import Cause, Change, Difference, FieldChange, Verdict
from .engine import ImagePair, compare_images, describe_image, explain, index_pair, is_identical
from .options import DiffOptions

__all__ = ["DiffResult", "diff_references", "describe_image", "is_identical", "write_report_dir"]

# Shows progress while one pair is indexed: called with both images once they are open.
ProgressFor = Callable[[Image, Image], ContextManager[Progress | None]]  # None: nothing is shown


@dataclass(frozen=True)
class DiffResult:
    """What `diff` found. `difference` is None when every compared pair is identical; `a` and
    `b` describe the two sides as the reports show them; `pairs` holds each compared platform
    pair with its own Difference (kept for `--report-dir`)."""

    difference: Difference | None
    a: dict[str, Any]
    b: dict[str, Any]
    pairs: tuple[tuple[ImagePair, Difference | None], ...] = ()

    @property
    def verdict(self) -> Verdict:
        return Verdict.IDENTICAL if self.difference is None else self.difference.verdict

    @property
    def warnings(self) -> list[list[Notice]]:
        """The notices of both trees, one list per compared pair."""
        return [pair.tree_a.warnings + pair.tree_b.warnings for pair, _ in self.pairs]


@gc_paused  # between its phases, a full collection would walk the trees: 0.09 s on a 61 000-entry pair
def diff_references(ref_a: str, ref_b: str, options: DiffOptions, *, session: Session, platform: str | None = None,
                    all_platforms: bool = False, progress: ProgressFor | None = None) -> DiffResult:
    """Open both references through `session` and compare them: the chosen (or only) platform,
    or with `all_platforms` every platform of two indexes, where a platform only one side has is
    an index-level change. Every blob of both sides is verified, identical or not. Raises
    UsageError for `platform` with `all_platforms`, and InspectrError subclasses from reading."""
    if all_platforms and platform:
        raise UsageError("--platform and --all-platforms cannot be combined")
    if not all_platforms:
        a, b = session.open_image(ref_a, platform), session.open_image(ref_b, platform)
        pair = _diff_pair(a, b, options, session, progress)
        return DiffResult(pair[1], describe_image(a), describe_image(b), (pair,))
    index_a, index_b = session.open_image(ref_a, "*"), session.open_image(ref_b, "*")
    plats_a, plats_b = list(index_a.platforms) or [index_a.platform], list(index_b.platforms) or [index_b.platform]
    pairs: list[tuple[ImagePair, Difference | None]] = []
    extra: list[Change] = []
    for p in sorted(set(plats_a) | set(plats_b)):
        if p not in plats_a or p not in plats_b:
            change = "added" if p not in plats_a else "removed"
            extra.append(Change("index", f"index.platforms.{p}", change, Cause.CONTENT,
                                [FieldChange("platform", p if change == "removed" else None, p if change == "added" else None, Cause.CONTENT)],
                                platform=p))
            continue
        pairs.append(_diff_pair(session.open_image(ref_a, p), session.open_image(ref_b, p), options, session, progress))
    result = _combine(pairs, extra, options)
    if pairs:
        return DiffResult(result, describe_image(pairs[0][0].a), describe_image(pairs[0][0].b), tuple(pairs))
    da, db = {"reference": ref_a, "format": index_a.format}, {"reference": ref_b, "format": index_b.format}
    if result is not None:  # no platform in common: the index-level changes are the whole report
        result.a, result.b = da, db
    return DiffResult(result, da, db)


def _diff_pair(a: Image, b: Image, options: DiffOptions, session: Session,
               progress: ProgressFor | None) -> tuple[ImagePair, Difference | None]:
    with progress(a, b) if progress is not None else contextlib.nullcontext(None) as sink:
        pair = index_pair(a, b, session=dataclasses.replace(session, progress=sink) if sink is not None else session,
                          keep=options.content)
    try:
        return pair, None if is_identical(a, b) else compare_images(pair, options, session=session)
    finally:
        pair.close()


def _combine(pairs: list[tuple[ImagePair, Difference | None]], extra: list[Change], options: DiffOptions) -> Difference | None:
    """One Difference over every platform pair and the index-level changes; each change names its
    platform. A single pair without index-level changes is returned as it is."""
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


def write_report_dir(target: Path, result: DiffResult) -> None:
    """Copy the files that differ into `target`/a and `target`/b (suffixed by platform when
    several pairs were compared). The directory must be new or empty: raises UsageError."""
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"--report-dir {target}: directory is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for pair, diff in result.pairs:
        if diff is None:
            continue
        suffix = f"-{pair.a.platform.replace('/', '-')}" if len(result.pairs) > 1 else ""
        paths_a = {c.renamed_from or c.path for c in diff.changes if c.subject == "file" and c.change != "added"}
        paths_b = {c.path for c in diff.changes if c.subject == "file" and c.change != "removed"}
        export_dir(pair.a, pair.tree_a, str(target / f"a{suffix}"), ExportOptions(), only={p for p in paths_a if pair.tree_a.get(p)})
        export_dir(pair.b, pair.tree_b, str(target / f"b{suffix}"), ExportOptions(), only={p for p in paths_b if pair.tree_b.get(p)})
