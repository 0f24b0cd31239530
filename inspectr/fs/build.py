"""Index every layer of an image (on the session's executor, from the run's verified layers or
the cache where it can) and apply them into a Tree."""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import InspectrError, SizeLimitExceeded
from ..image import Image, LayerRef
from ..limits import Limits
from ..session import Session
from .cache import LayerCache
from .gcpause import gc_paused
from .layer_index import Keep, LayerIndex, check_limits, index_layer, verify_blob
from .tree import Tree, apply_layers

__all__ = ["content_key", "index_refs", "index_layers", "build_tree", "run_layer_jobs", "index_checked", "check_total"]


def content_key(ref: LayerRef) -> str:
    """Blobs with the same digest and media type have the same bytes, hence the same index."""
    if ref.digest is None:
        return f"{ref.blob.key}:{ref.blob.length}:{ref.diff_id}"
    return f"{ref.digest}|{ref.media_type}"


_Report = Callable[[int], None] | None

# Scheduling weight of a job that only hashes a blob, against one that inflates and walks it:
# sha256 runs at about 1.5 GB/s here, a full indexing pass at about 0.12 GB/s of compressed input.
_VERIFY_WEIGHT = 1 / 10


def _weight(ref: LayerRef, verify_only: bool) -> int:
    """What the executor schedules the largest first by: the work a job costs, not its bytes."""
    return int(ref.blob.length * _VERIFY_WEIGHT) if verify_only else ref.blob.length


def _index_one(args: tuple[LayerRef, Limits, bool, bool, LayerCache | None, _Report, Keep | None]) -> LayerIndex | int:
    layer, limits, scan, verify_only, cache, report, keep = args
    if verify_only:
        return verify_blob(layer, report)
    index = index_layer(layer, layer.index, limits, scan, report, keep)
    if cache is not None:
        cache.put(layer, index, scan)  # in the worker: encoding runs beside the other layers
    return index


def _index_or_error(args: tuple[LayerRef, Limits, LayerCache | None, bool, _Report]) -> LayerIndex | int | tuple[str, str]:
    """A layer's index (or, with verify_only, its verified size), or its error as (class,
    message): one layer's failure is a result, so a report can carry on with the others."""
    layer, limits, cache, verify_only, report = args
    try:
        return _index_one((layer, limits, False, verify_only, cache, report, None))
    except InspectrError as err:
        return err.error_class, err.message


def run_layer_jobs(jobs: Sequence[tuple[LayerRef, bool]], limits: Limits, *, session: Session,
                   scan_secrets: bool = False, meanwhile: Callable[[], object] | None = None,
                   on_result: Callable[[int, LayerIndex | int], object] | None = None,
                   keeps: Sequence[Keep | None] | None = None) -> list[LayerIndex | int]:
    """Index (or, when the flag says so, only verify the digest of) each layer on the session's
    executor; results in the given order. `meanwhile` and `on_result` run here while they do
    (Executor.map); `keeps`, one per job, says where a pass also copies small files."""
    keeps = keeps or [None] * len(jobs)
    return session.executor.map(_index_one, [(ref, limits, scan_secrets, verify, session.cache, _reporter(ref, session), keep)
                                             for (ref, verify), keep in zip(jobs, keeps)],
                                [_weight(ref, verify) for ref, verify in jobs], meanwhile=meanwhile, on_result=on_result)


def _reporter(ref: LayerRef, session: Session) -> _Report:
    return session.byte_reporter(content_key(ref), ref.blob.length)


def index_checked(layers: Sequence[LayerRef], limits: Limits, *, session: Session) -> list[LayerIndex | tuple[str, str]]:
    """Every layer indexed on the session's executor, each failure returned in its place; what
    verified is remembered in the session, so a later step of the same run does not inflate it
    again."""
    # A blob whose index this run already holds, or that an earlier item of this call indexes
    # (the same digest in the release and the rebuild), is only hashed: same digest, same bytes,
    # so the same entries and diff_id. A blob already verified at its location is not read again.
    first: dict[str, int] = {}
    jobs: list[tuple[int, bool]] = []  # (item, verify only)
    for i, ref in enumerate(layers):
        key = content_key(ref)
        if session.verified.get(key) is not None or key in first:
            if not session.verified.has_location(ref.blob.key):
                jobs.append((i, True))
        else:
            first[key] = i
            jobs.append((i, False))
    done = session.executor.map(_index_or_error, [(layers[i], limits, session.cache, only, _reporter(layers[i], session))
                                                  for i, only in jobs],
                                [_weight(layers[i], only) for i, only in jobs])
    result_of = {i: result for (i, _), result in zip(jobs, done)}
    for i, ref in enumerate(layers):  # full indexes first: the verify-only items take theirs
        result = result_of.get(i)
        if isinstance(result, LayerIndex):
            session.verified.put(content_key(ref), result, ref.blob.key)
    # A copy whose twin failed to index is indexed itself, so its own verdict is its own.
    retry = [i for i, ref in enumerate(layers) if isinstance(result_of.get(i), int)
             and session.verified.get(content_key(ref)) is None]
    again = session.executor.map(_index_or_error, [(layers[i], limits, session.cache, False, None) for i in retry],
                                 [layers[i].blob.length for i in retry])
    for i, result in zip(retry, again):
        result_of[i] = result
        if isinstance(result, LayerIndex):
            session.verified.put(content_key(layers[i]), result, layers[i].blob.key)
    out: list[LayerIndex | tuple[str, str]] = []
    for i, ref in enumerate(layers):
        result = result_of.get(i, 0)
        if isinstance(result, tuple):
            out.append(result)
            continue
        index = session.verified.get(content_key(ref))
        assert index is not None
        if isinstance(result, int):
            session.verified.add_location(ref.blob.key)
        index = index if index.layer == ref.index else _at(index, ref.index)
        session.layer_done(index)
        out.append(index)
    return out


@gc_paused
def index_refs(layers: Sequence[LayerRef], limits: Limits, *, session: Session, scan_secrets: bool = False,
               meanwhile: Callable[[list[LayerIndex]], object] | None = None) -> list[LayerIndex]:
    """One verified LayerIndex per layer ref, in the given order. An index verified earlier in
    this run is reused as is; a cached one only after the blob's digest and size were checked
    again in this run.

    `meanwhile` is called once with the indexes: while the blobs are checked when every index
    is at hand before (cached or verified earlier), else once they are all indexed. Work done
    in it is speculative until this returns; its Exception is raised after the checks."""
    known: dict[int, LayerIndex] = {}
    cached: set[int] = set()  # an index known, whose blob at this location must still be verified
    for i, ref in enumerate(layers):
        hit = session.verified.get(content_key(ref), scan_secrets)
        if hit is not None and not session.verified.has_location(ref.blob.key):
            cached.add(i)
        if hit is None and session.cache is not None:
            hit = session.cache.get(ref, ref.index, scan_secrets)
            if hit is not None:
                check_limits(hit, limits, ref.label)
            if hit is not None:
                cached.add(i)
        if hit is not None:
            known[i] = hit if hit.layer == ref.index else _at(hit, ref.index)
    work = [(i, ref) for i, ref in enumerate(layers) if i not in known or i in cached]
    hook = meanwhile
    early = hook is not None and len(known) == len(layers)
    results = run_layer_jobs([(ref, i in cached) for i, ref in work], limits, session=session, scan_secrets=scan_secrets,
                             meanwhile=(lambda: hook([known[i] for i in range(len(layers))])) if hook and early else None)
    for (i, ref), result in zip(work, results):
        if i not in cached:
            assert isinstance(result, LayerIndex)
            known[i] = result
        session.verified.put(content_key(ref), known[i], ref.blob.key, scan_secrets)
    out = [known[i] for i in range(len(layers))]
    for index in out:
        session.layer_done(index)
    if meanwhile is not None and not early:
        meanwhile(out)
    return out


def _at(index: LayerIndex, layer: int) -> LayerIndex:
    import dataclasses

    return dataclasses.replace(index, layer=layer)


def index_layers(image: Image, *, session: Session | None = None, scan_secrets: bool = False) -> list[LayerIndex]:
    """One verified LayerIndex per layer of the image, in layer order."""
    session = session or Session(limits=image.limits)
    results = index_refs(image.layers, image.limits, session=session, scan_secrets=scan_secrets)
    check_total(image, results)
    return results


def check_total(image: Image, indexes: Sequence[LayerIndex]) -> None:
    """SizeLimitExceeded when the image's layers hold more than max_total_bytes uncompressed."""
    total = sum(index.uncompressed_size for index in indexes)
    if total > image.limits.max_total_bytes:
        raise SizeLimitExceeded(
            f"{image.reference}: {total} uncompressed bytes exceeds max_total_bytes={image.limits.max_total_bytes}"
        )


def build_tree(image: Image, *, session: Session | None = None, strict: bool = False) -> Tree:
    """The verified union tree of an image. Raises InspectrError subclasses on any failure."""
    tree = apply_layers(index_layers(image, session=session), image.limits, strict)
    for notice in image.notices:
        tree.warnings.append(notice)
    return tree
