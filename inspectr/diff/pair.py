"""Both images of a diff indexed in one pool: shared blobs once, cached indexes decoded and the
two union trees built while the pool works, and the files of one-sided layers kept aside by
their indexing pass so that the comparison never inflates a layer twice."""

from __future__ import annotations

import dataclasses

from ..errors import DiffIdMismatch, InspectrError, SizeLimitExceeded
from ..fs.build import content_key, run_layer_jobs
from ..fs.cache import LayerCache
from ..fs.content import KeptFiles
from ..fs.gcpause import gc_paused
from ..fs.layer_index import Keep, LayerIndex, check_limits
from ..fs.tree import Tree
from ..image import Image, LayerRef
from ..session import Session

__all__ = ["ImagePair", "index_pair", "KEEP_BYTES"]


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
    one_sided = _one_sided(a, b) if keep else set()
    again = _index_again(a, b, one_sided, session)
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
        keeps = _keeps(work, one_sided, kept) if keep else None
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


def _index_again(a: Image, b: Image, one_sided: set[str], session: Session) -> set[str]:
    """Cached one-sided layers to index again rather than only verify, so that their files are
    kept aside too: up to 1.5 times the bytes of the one-sided layers that must be indexed anyway
    (a rebuild's new top layer against the release's cached one, of about its size). The passes
    then run side by side, and the changed files need no second pass after them; a diff of two
    cached images still only verifies their blobs."""
    cache = session.cache
    if cache is None or not one_sided:
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


def _keeps(work: list[tuple[LayerRef, bool]], one_sided: set[str], kept: KeptFiles) -> list[Keep | None]:
    """Where each job copies files: only for layers that one image has and the other not."""
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
