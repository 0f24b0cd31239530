"""Index every layer of an image (in parallel where it pays) and apply them into a Tree."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence

from ..errors import SizeLimitExceeded
from ..image import Image, LayerRef
from ..limits import Limits
from .layer_index import LayerIndex, index_layer, verify_blob
from .tree import Tree, apply_layers

__all__ = ["index_refs", "index_layers", "build_tree", "run_layer_jobs"]

# Below this many compressed bytes a worker process costs more than it saves.
_PARALLEL_MIN_BYTES = 16 << 20


def _index_one(args: tuple[LayerRef, Limits, bool, bool]) -> LayerIndex | int:
    layer, limits, scan, verify_only = args
    if verify_only:
        return verify_blob(layer)
    return index_layer(layer, layer.index, limits, scan)


def run_layer_jobs(jobs: Sequence[tuple[LayerRef, bool]], limits: Limits, workers: int | None = None) -> list[LayerIndex | int]:
    """Index (or, when the flag says so, only verify) each layer; results in the given order.
    Work runs in worker processes when there is enough of it for two cores to pay."""
    if workers is None:
        workers = min(len(jobs), os.cpu_count() or 1)
        if sum(ref.blob.length for ref, _ in jobs) < _PARALLEL_MIN_BYTES:
            workers = 1
    if workers <= 1 or len(jobs) <= 1:
        return [_index_one((ref, limits, False, verify)) for ref, verify in jobs]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].blob.length)
        futures = {i: pool.submit(_index_one, (jobs[i][0], limits, False, jobs[i][1])) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def index_refs(
    layers: Sequence[LayerRef],
    limits: Limits,
    jobs: int | None = None,
    on_done: Callable[[LayerIndex], None] | None = None,
    scan_secrets: bool = False,
) -> list[LayerIndex]:
    """One verified LayerIndex per layer ref, in the given order. Layers are independent, so
    they are indexed in worker processes (the work is CPU-bound: inflate, tar walk, sha256)."""
    if jobs is None:
        jobs = min(len(layers), os.cpu_count() or 1)
        if sum(layer.blob.length for layer in layers) < _PARALLEL_MIN_BYTES:
            jobs = 1
    results: list[LayerIndex] = []
    if jobs <= 1 or len(layers) <= 1:
        for layer in layers:
            index = index_layer(layer, layer.index, limits, scan_secrets)
            if on_done:
                on_done(index)
            results.append(index)
        return results
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        # Largest first keeps both cores busy; results are put back in the given order.
        order = sorted(range(len(layers)), key=lambda i: -layers[i].blob.length)
        futures = {i: pool.submit(_index_one, (layers[i], limits, scan_secrets, False)) for i in order}
        for i in range(len(layers)):
            index = futures[i].result()
            assert isinstance(index, LayerIndex)
            if on_done:
                on_done(index)
            results.append(index)
    return results


def index_layers(
    image: Image,
    jobs: int | None = None,
    on_done: Callable[[LayerIndex], None] | None = None,
    scan_secrets: bool = False,
) -> list[LayerIndex]:
    """One verified LayerIndex per layer of the image, in layer order."""
    results = index_refs(image.layers, image.limits, jobs, on_done, scan_secrets)
    total = sum(index.uncompressed_size for index in results)
    if total > image.limits.max_total_bytes:
        raise SizeLimitExceeded(
            f"{image.reference}: {total} uncompressed bytes exceeds max_total_bytes={image.limits.max_total_bytes}"
        )
    return results


def build_tree(image: Image, jobs: int | None = None, strict: bool = False,
               on_done: Callable[[LayerIndex], None] | None = None) -> Tree:
    """The verified union tree of an image. Raises InspectrError subclasses on any failure."""
    tree = apply_layers(index_layers(image, jobs, on_done), image.limits, strict)
    for notice in image.notices:
        tree.warnings.append(notice)
    return tree
