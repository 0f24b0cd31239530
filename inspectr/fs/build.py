"""Index every layer of an image (in parallel where it pays, from the cache where it can) and
apply them into a Tree."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

from ..errors import SizeLimitExceeded
from ..image import Image, LayerRef
from ..limits import Limits
from .cache import LayerCache
from .gcpause import gc_paused
from .layer_index import LayerIndex, index_layer, verify_blob
from .tree import Tree, apply_layers

__all__ = ["index_refs", "index_layers", "build_tree", "run_layer_jobs", "parallel_map"]

T = TypeVar("T")
R = TypeVar("R")

# Below this many compressed bytes a worker process costs more than it saves.
_PARALLEL_MIN_BYTES = 16 << 20


def _index_one(args: tuple[LayerRef, Limits, bool, bool, LayerCache | None]) -> LayerIndex | int:
    layer, limits, scan, verify_only, cache = args
    if verify_only:
        return verify_blob(layer)
    index = index_layer(layer, layer.index, limits, scan)
    if cache is not None:
        cache.put(layer, index, scan)  # in the worker: encoding runs beside the other layers
    return index


def parallel_map(fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], workers: int | None = None) -> list[R]:
    """fn over items, results in the given order. CPU-bound layer work runs in worker processes
    when there is enough of it (`sizes`: compressed bytes per item), largest item first."""
    if workers is None:
        workers = min(len(items), os.cpu_count() or 1)
        if sum(sizes) < _PARALLEL_MIN_BYTES:
            workers = 1
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        # Largest first keeps both cores busy.
        futures = {i: pool.submit(fn, items[i]) for i in sorted(range(len(items)), key=lambda i: -sizes[i])}
        return [futures[i].result() for i in range(len(items))]


def run_layer_jobs(jobs: Sequence[tuple[LayerRef, bool]], limits: Limits, workers: int | None = None,
                   scan_secrets: bool = False, cache: LayerCache | None = None) -> list[LayerIndex | int]:
    """Index (or, when the flag says so, only verify the digest of) each layer; results in the
    given order."""
    return parallel_map(_index_one, [(ref, limits, scan_secrets, verify, cache) for ref, verify in jobs],
                        [ref.blob.length for ref, _ in jobs], workers)


@gc_paused
def index_refs(
    layers: Sequence[LayerRef],
    limits: Limits,
    jobs: int | None = None,
    on_done: Callable[[LayerIndex], None] | None = None,
    scan_secrets: bool = False,
    cache: LayerCache | None = None,
) -> list[LayerIndex]:
    """One verified LayerIndex per layer ref, in the given order. A cached index is used only
    after the blob's digest and size were checked again in this run."""
    cached: dict[int, LayerIndex] = {}
    if cache is not None:
        for i, ref in enumerate(layers):
            hit = cache.get(ref, ref.index, scan_secrets)
            if hit is not None:
                cached[i] = hit
    work = [(ref, i in cached) for i, ref in enumerate(layers)]
    results = run_layer_jobs(work, limits, jobs, scan_secrets, cache)
    out: list[LayerIndex] = []
    for i, (ref, result) in enumerate(zip(layers, results)):
        if i in cached:
            index = cached[i]
        else:
            assert isinstance(result, LayerIndex)
            index = result
        if on_done:
            on_done(index)
        out.append(index)
    return out


def index_layers(
    image: Image,
    jobs: int | None = None,
    on_done: Callable[[LayerIndex], None] | None = None,
    scan_secrets: bool = False,
    cache: LayerCache | None = None,
) -> list[LayerIndex]:
    """One verified LayerIndex per layer of the image, in layer order."""
    results = index_refs(image.layers, image.limits, jobs, on_done, scan_secrets, cache)
    total = sum(index.uncompressed_size for index in results)
    if total > image.limits.max_total_bytes:
        raise SizeLimitExceeded(
            f"{image.reference}: {total} uncompressed bytes exceeds max_total_bytes={image.limits.max_total_bytes}"
        )
    return results


def build_tree(image: Image, jobs: int | None = None, strict: bool = False,
               on_done: Callable[[LayerIndex], None] | None = None, cache: LayerCache | None = None) -> Tree:
    """The verified union tree of an image. Raises InspectrError subclasses on any failure."""
    tree = apply_layers(index_layers(image, jobs, on_done, cache=cache), image.limits, strict)
    for notice in image.notices:
        tree.warnings.append(notice)
    return tree
