"""diff_images: index both images (shared layers once), compare every level, explain."""

from __future__ import annotations

import dataclasses
import difflib
import os
import tempfile
from typing import Any, Callable

from ..errors import DiffIdMismatch, InspectrError, SizeLimitExceeded
from ..fs.build import content_key, run_layer_jobs
from ..session import Session
from ..fs.content import KeptFiles, SpoolJob, content_sources, spool_contents
from ..fs.entry import EntryKind
from ..fs.gcpause import gc_paused
from ..fs.layer_index import Keep, LayerIndex, check_limits
from ..fs.cache import LayerCache
from ..fs.tree import Inode, Tree
from ..image import Image, LayerRef
from .classify import HINTS, refine_content_cause
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


@dataclasses.dataclass
class ImagePair:
    """Both images with their verified indexes and trees (kept for --report-dir)."""

    a: Image
    b: Image
    indexes_a: list[LayerIndex]
    indexes_b: list[LayerIndex]
    tree_a: Tree
    tree_b: Tree
    kept: KeptFiles | None = None  # files the indexing passes copied aside

    def close(self) -> None:
        """Remove the files kept aside (the trees and indexes stay usable)."""
        if self.kept is not None:
            self.kept.close()


# Bytes of files (each up to Keep.max_file) the indexing passes of one pair may copy aside, in all.
KEEP_BYTES = 256 << 20  # on disk; where /tmp is a tmpfs, memory outside the process


@gc_paused
def index_pair(a: Image, b: Image, *, session: Session | None = None, keep: bool = True) -> ImagePair:
    """Index the layers of both images in one pool. A blob that both images hold (same digest)
    is indexed once; every other copy is still read, but only to verify its digest and size,
    which is several times cheaper than inflating and walking it again.

    While the pool works, this process decodes the cached indexes and applies to the two trees
    each layer whose index is at hand, cached or just returned by the pool. That work is
    speculative: nothing of it is returned unless every blob verifies and every diff_id matches.

    With `keep`, the passes over layers that only one image has also copy their files
    aside (ImagePair.kept; call ImagePair.close() when done): the changed files that compare
    reads again are mostly there, and that layer is not inflated a second time."""
    first: set[str] = set()
    work: list[tuple[LayerRef, bool]] = []
    seen_files: set[tuple[str, int]] = set()
    known: dict[str, LayerIndex] = {}  # indexed earlier in this run (gate's integrity step)
    on_disk: dict[str, LayerRef] = {}  # cached: decoded while the pool verifies the blob
    session = session or Session(limits=a.limits)
    cache, verified = session.cache, session.verified
    again = _index_again(a, b, session) if keep else set()
    for ref in list(a.layers) + list(b.layers):
        key = content_key(ref)
        location = (ref.blob.key, ref.blob.length)
        if key not in first:
            first.add(key)
            hit = verified.get(key)
            if hit is not None:
                known[key] = hit
            elif cache is not None and cache.has(ref) and key not in again:
                on_disk[key] = ref
            else:
                work.append((ref, False))
                seen_files.add(location)
                continue
        if location not in seen_files and not verified.has_location(ref.blob.key):
            work.append((ref, True))  # another copy, or a cached index: verify the blob only
        seen_files.add(location)
    early = _EarlyTrees(a, b, known, on_disk, cache)

    def take(i: int, result: LayerIndex | int) -> None:
        if isinstance(result, LayerIndex):
            early.take(content_key(work[i][0]), result)

    kept = KeptFiles()
    try:
        keeps = _keeps(a, b, work, kept) if keep else None
        results = run_layer_jobs(work, a.limits, session=session, meanwhile=early.decode, on_result=take, keeps=keeps)
        return _finish_pair(a, b, work, results, known, on_disk, early, kept, session)
    except BaseException:
        kept.close()
        raise


def _one_sided(a: Image, b: Image) -> set[str]:
    """The content keys of layers that one image has and the other not."""
    sides: dict[str, set[int]] = {}
    for side, image in enumerate((a, b)):
        for ref in image.layers:
            sides.setdefault(content_key(ref), set()).add(side)
    return {key for key, held in sides.items() if len(held) == 1}


def _index_again(a: Image, b: Image, session: Session) -> set[str]:
    """Cached one-sided layers to index again rather than only verify, so that their files are
    kept aside too: up to 1.5 times the bytes of the one-sided layers that must be indexed anyway
    (a rebuild's new top layer against the release's cached one, of about its size). The passes
    then run side by side, and the changed files need no second pass after them; a diff of two
    cached images still only verifies their blobs."""
    one_sided, cache = _one_sided(a, b), session.cache
    if cache is None:
        return set()
    refs = {content_key(ref): ref for ref in list(a.layers) + list(b.layers) if content_key(ref) in one_sided
            and session.verified.get(content_key(ref)) is None}
    cached = {key for key, ref in refs.items() if cache.has(ref)}
    room = sum(ref.blob.length for key, ref in refs.items() if key not in cached) * 3 // 2
    again: set[str] = set()
    for key in sorted(cached, key=lambda k: refs[k].blob.length):
        if refs[key].blob.length <= room:
            again.add(key)
            room -= refs[key].blob.length
    return again


def _keeps(a: Image, b: Image, work: list[tuple[LayerRef, bool]], kept: KeptFiles) -> list[Keep | None]:
    """Where each job copies files: only for layers that one image has and the other not."""
    one_sided = _one_sided(a, b)
    chosen = [not verify_only and content_key(ref) in one_sided for ref, verify_only in work]
    budget = max(16 << 20, KEEP_BYTES // max(1, sum(chosen)))
    return [kept.keep_for(content_key(ref), budget) if pick else None for (ref, _), pick in zip(work, chosen)]


def _finish_pair(a: Image, b: Image, work: list[tuple[LayerRef, bool]], results: list[LayerIndex | int],
                 known: dict[str, LayerIndex], on_disk: dict[str, LayerRef], early: "_EarlyTrees", kept: KeptFiles,
                 session: Session) -> ImagePair:
    verified = session.verified
    by_key = dict(known)
    by_key.update((key, index) for key, index in early.decoded.items() if index is not None)
    for (ref, verify_only), result in zip(work, results):
        if not verify_only:
            assert isinstance(result, LayerIndex)
            by_key[content_key(ref)] = result
            verified.put(content_key(ref), result, ref.blob.key)
            session.layer_done(result)
        else:
            verified.add_location(ref.blob.key)
    missed = [ref for key, ref in on_disk.items() if early.decoded.get(key) is None]  # corrupt or foreign entries
    for ref, result in zip(missed, run_layer_jobs([(ref, False) for ref in missed], a.limits, session=session)):
        assert isinstance(result, LayerIndex)
        by_key[content_key(ref)] = result
        verified.put(content_key(ref), result, ref.blob.key)
        session.layer_done(result)

    def for_image(image: Image) -> list[LayerIndex]:
        out = []
        for ref in image.layers:
            index = by_key[content_key(ref)]
            if ref.diff_id is not None and index.diff_id != str(ref.diff_id):
                raise DiffIdMismatch(
                    f"{ref.label}: diff_id mismatch: config says {ref.diff_id}, uncompressed layer is {index.diff_id}")
            out.append(_numbered(index, ref))
        return out

    ia, ib = for_image(a), for_image(b)
    for limits_image, indexes in ((a, ia), (b, ib)):
        total = sum(index.uncompressed_size for index in indexes)
        if total > limits_image.limits.max_total_bytes:
            raise SizeLimitExceeded(f"{limits_image.reference}: {total} uncompressed bytes exceeds max_total_bytes")
    return ImagePair(a, b, ia, ib, early.finish(0, ia), early.finish(1, ib), kept if kept.keeps else None)


def _numbered(index: LayerIndex, ref: LayerRef) -> LayerIndex:
    """The index as layer `ref.index` of its image (a shared blob may sit at another position)."""
    return index if index.layer == ref.index else dataclasses.replace(index, layer=ref.index)


class _EarlyTrees:
    """The part of `index_pair` that runs while the pool works: decode the cached indexes, then
    apply, per image, each bottom layer as soon as its index is at hand (cached, or just
    returned by the pool), so the trees grow while the other layers are still being read."""

    def __init__(self, a: Image, b: Image, known: dict[str, LayerIndex], on_disk: dict[str, LayerRef],
                 cache: LayerCache | None) -> None:
        self.images, self.on_disk, self.cache = (a, b), on_disk, cache
        self.at_hand: dict[str, LayerIndex] = dict(known)
        self.decoded: dict[str, LayerIndex | None] = {}
        self.trees = [Tree(a.limits), Tree(b.limits)]
        self.error: InspectrError | None = None

    def decode(self) -> None:
        a, b = self.images
        for key, ref in self.on_disk.items():
            assert self.cache is not None
            hit = self.cache.get(ref, ref.index)
            if hit is not None:
                check_limits(hit, a.limits if ref in a.layers else b.limits, ref.label)
                self.at_hand[key] = hit
            self.decoded[key] = hit
        self._grow()

    def take(self, key: str, index: LayerIndex) -> None:
        self.at_hand[key] = index
        self._grow()

    def _grow(self) -> None:
        for image, tree in zip(self.images, self.trees):
            while self.error is None and len(tree.layers) < len(image.layers):
                ref = image.layers[len(tree.layers)]
                index = self.at_hand.get(content_key(ref))
                if index is None or (ref.diff_id is not None and index.diff_id != str(ref.diff_id)):
                    break  # the rest waits (or raises DiffIdMismatch in index_pair)
                try:
                    tree.apply(_numbered(index, ref))
                except InspectrError as err:
                    self.error = err  # raised by finish, once every blob is verified

    def finish(self, side: int, indexes: list[LayerIndex]) -> Tree:
        """The image's tree: the early part continued with the layers still missing."""
        if self.error is not None:
            raise self.error
        tree = self.trees[side]
        for index in indexes[len(tree.layers):]:
            tree.apply(index)
        return tree


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
