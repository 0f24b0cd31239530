"""diff_images: index both images (pair.py), compare every level, explain."""

from __future__ import annotations

import difflib
import os
import tempfile
from typing import Any, Callable

from ..session import Session
from ..fs.content import SpoolJob, content_sources, spool_contents
from ..fs.entry import EntryKind
from ..fs.gcpause import gc_paused
from ..fs.tree import Inode
from ..image import Image
from .classify import HINTS, refine_content_cause
from .pair import ImagePair, index_pair
from .comparators.files import compare_trees
from .comparators.layers import compare_hidden_content, compare_layers
from ..inventory_model import Inventory
from ..packages.inventory import read_inventory
from .comparators.packages import attribute_files, compare_packages
from .comparators.metadata import compare_configs, compare_format, compare_history, compare_manifests
from .difference import Cause, Change, Difference, FieldChange, Verdict
from .options import DiffOptions

__all__ = ["diff_images", "compare_images", "index_pair", "explain", "ImagePair"]

_SUBJECT_ORDER = {"index": 0, "manifest": 1, "config": 2, "history": 3, "layer": 4, "hidden": 5, "package": 6, "file": 7}


def _created_by(image: Image) -> Callable[[int], str | None]:
    def created_by(layer: int) -> str | None:
        h = image.layers[layer].history if 0 <= layer < len(image.layers) else None
        return h.created_by if h else None
    return created_by


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _unified(path: str, a: bytes, b: bytes, max_lines: int) -> tuple[str, str | None]:
    lines = list(difflib.unified_diff(a.decode("utf-8").splitlines(keepends=True),
                                      b.decode("utf-8").splitlines(keepends=True), f"a/{path}", f"b/{path}"))
    note = None
    if len(lines) > max_lines:
        note = f"text diff cut at {max_lines} of {len(lines)} lines"
        lines = lines[:max_lines]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines), note


def _refine_contents(pair: ImagePair, changes: list[Change], options: DiffOptions, session: Session,
                     meanwhile: Callable[[], object]) -> None:
    """Re-read changed files (one pass per layer and image) to class the change and, for text,
    to attach a unified diff. Contents are spooled to a private temp dir, never held whole.
    `meanwhile` is called once, while the files are read when there are any."""
    todo = [c for c in changes if c.subject == "file" and c.change in ("modified", "renamed")
            and any(f.name == "sha256" for f in c.fields)]
    if not todo or not options.content:
        meanwhile()
        return
    ta, tb = pair.tree_a, pair.tree_b
    wanted_a: dict[int, Inode] = {}
    wanted_b: dict[int, Inode] = {}
    for c in todo:
        na, nb = ta.get(c.renamed_from or c.path), tb.get(c.path)
        if na is None or nb is None or na.kind is not EntryKind.FILE or nb.kind is not EntryKind.FILE:
            continue
        if na.size <= options.max_classify_bytes and nb.size <= options.max_classify_bytes:
            wanted_a[na.inode.id] = na.inode
            wanted_b[nb.inode.id] = nb.inode
    with tempfile.TemporaryDirectory(prefix="inspectr-diff-") as tmp:
        jobs: list[SpoolJob] = []
        for side, image, wanted in (("a", pair.a, wanted_a), ("b", pair.b, wanted_b)):
            for layer_no, by_offset in content_sources(wanted.values()).items():
                jobs.append((image.layers[layer_no], image.limits,
                             {off: (os.path.join(tmp, f"{side}{inode.id}"), inode.sha256) for off, inode in by_offset.items()}))
        spool_contents(jobs, session=session, meanwhile=meanwhile, kept=pair.kept)

        def read(side: str, inode: Inode) -> bytes | None:
            try:
                with open(os.path.join(tmp, f"{side}{inode.id}"), "rb") as fp:
                    return fp.read()
            except FileNotFoundError:
                return None

        for c in todo:
            na, nb = ta.get(c.renamed_from or c.path), tb.get(c.path)
            if na is None or nb is None:
                continue
            da = read("a", na.inode) if na.inode.id in wanted_a else None
            db = read("b", nb.inode) if nb.inode.id in wanted_b else None
            if da is None or db is None:
                c.note = f"content not compared: over the {options.max_classify_bytes}-byte limit"
                continue
            if c.change == "modified":
                cause, note = refine_content_cause(c.path, da, db)
                if cause is not Cause.CONTENT:
                    # Only the content fields are explained; a mode or owner change stays content.
                    c.fields = [FieldChange(f.name, f.a, f.b, cause if f.name in ("sha256", "size") else f.cause)
                                for f in c.fields]
                    c.cause = max((f.cause for f in c.fields), key=lambda x: x.rank)
                    c.note = note
            if max(len(da), len(db)) > options.max_diff_bytes:
                c.note = c.note or f"no text diff: over the {options.max_diff_bytes}-byte limit"
            elif _is_text(da) and _is_text(db):
                c.content_diff, cut = _unified(c.path, da, db, options.max_diff_lines)
                if cut:
                    c.note = cut
            else:
                c.note = c.note or (f"binary: {len(da)} bytes sha256:{na.sha256[:12] if na.sha256 else '-'}… "
                                    f"→ {len(db)} bytes sha256:{nb.sha256[:12] if nb.sha256 else '-'}…")


def explain(changes: list[Change], verdict: Verdict) -> tuple[str, list[str]]:
    if verdict is Verdict.IDENTICAL:
        return "the images are identical (same manifest digest)", []
    if not changes:
        return "no differences in index, manifest, config, history, layers or files", []
    counts: dict[Cause, int] = {}
    for c in changes:
        counts[c.cause] = counts.get(c.cause, 0) + 1
    parts = ", ".join(f"{n} {cause.value}" for cause, n in sorted(counts.items(), key=lambda kv: -kv[0].rank))
    accepted = sum(1 for c in changes if c.accepted)
    total = len(changes)
    if verdict is Verdict.EQUIVALENT:
        text = f"equivalent: all {total} differences are accepted ({parts})"
    else:
        open_causes = sorted({c.cause for c in changes if not c.accepted}, key=lambda c: -c.rank)
        text = (f"different: {total - accepted} of {total} differences are not accepted; "
                f"unaccepted classes: {', '.join(c.value for c in open_causes)} (all: {parts})")
    # a hint is advice on what is still open: accepted classes need none
    open_classes = {c.cause for c in changes if not c.accepted}
    hints = [f"{cause.value}: {HINTS[cause]}" for cause in sorted(open_classes, key=lambda c: -c.rank) if cause in HINTS]
    return text, hints


def describe_image(image: Image) -> dict[str, Any]:
    """One side of a diff report (docs/formats/diff.md, "Image descriptions")."""
    return {"reference": image.reference, "format": image.format, "platform": image.platform,
            "manifest_digest": str(image.manifest_digest) if image.manifest_digest else None,
            "config_digest": str(image.config_digest), "layers": len(image.layers)}


def is_identical(a: Image, b: Image) -> bool:
    """The same manifest digest; for legacy docker-save archives (no manifest), the same config."""
    if a.manifest_digest is not None and a.manifest_digest == b.manifest_digest:
        return True
    return a.manifest is None and b.manifest is None and a.config_digest == b.config_digest


@gc_paused
def compare_images(pair: ImagePair, options: DiffOptions, *, session: Session | None = None) -> Difference:
    """The full comparison of an indexed pair (no identical short-cut)."""
    a, b = pair.a, pair.b
    session = session or Session(limits=a.limits)
    changes: list[Change] = []
    changes += compare_format(a, b)
    changes += compare_manifests(a, b)
    changes += compare_configs(a, b)
    changes += compare_history(a, b)
    file_changes = compare_trees(pair.tree_a, pair.tree_b, _created_by(a), _created_by(b))
    changed_paths = {c.path for c in file_changes} | {c.renamed_from for c in file_changes if c.renamed_from}
    inventories: list[Inventory] = []

    def while_reading() -> None:  # what needs no file contents, done while the pool reads them
        hidden = compare_hidden_content(a, b, pair.indexes_a, pair.indexes_b, pair.tree_a, pair.tree_b, changed_paths)
        changes.extend(compare_layers(a, b, pair.indexes_a, pair.indexes_b, changed_paths | {c.path for c in hidden}))
        changes.extend(hidden)
        inventories.extend((read_inventory(a, pair.indexes_a, pair.tree_a), read_inventory(b, pair.indexes_b, pair.tree_b)))

    _refine_contents(pair, file_changes, options, session, while_reading)
    inv_a, inv_b = inventories
    if inv_a.packages or inv_b.packages:
        changes += compare_packages(inv_a, inv_b)
        attribute_files(file_changes, inv_a, inv_b, pair.tree_a, pair.tree_b)
    changes += file_changes
    for change in changes:
        change.accepted_by = options.accept(change)
    unexplained = sum(1 for c in file_changes if c.suspicious and not c.accepted)
    if options.packages_only:
        changes = [c for c in changes if c.subject == "package"]
    changes.sort(key=lambda c: (_SUBJECT_ORDER.get(c.subject, 9), c.path))
    verdict = Verdict.EQUIVALENT if all(c.accepted for c in changes) else Verdict.DIFFERENT
    explanation, hints = explain(changes, verdict)
    if options.packages_only:
        explanation = f"package view: {explanation}"
        if unexplained:
            explanation += (f"; {unexplained} changed files have no package change behind them "
                            "(run without --packages-only to list them)")
    return Difference(describe_image(a), describe_image(b), verdict, changes, explanation, hints)


def diff_images(a: Image, b: Image, options: DiffOptions = DiffOptions(), *, session: Session | None = None) -> Difference | None:
    """None when the images are identical (same manifest digest, or for legacy docker-save
    archives the same config digest); otherwise the explained Difference."""
    session = session or Session(limits=a.limits)
    pair = index_pair(a, b, session=session, keep=options.content)  # verifies every blob of both, identical or not
    try:
        return None if is_identical(a, b) else compare_images(pair, options, session=session)
    finally:
        pair.close()
