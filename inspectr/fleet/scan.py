"""A fleet scan on Dask: plan (manifests and configs, on the client), submit one task per
distinct layer digest that the store does not hold and one per image that depends on its
layers' tasks, and write each result to the store as it completes.

The cluster is the session's executor (`DaskExecutor`): the embedded default is a
`distributed.LocalCluster` sized to the machine, `--scheduler` connects a `distributed.Client`.
Dask is imported here on first use only, never by the one-image commands.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ..errors import InspectrError, UsageError
from ..session import Session, report_result, run_meanwhile
from .graph import (ImageJob, ImageResult, LayerJob, LayerResult, WorkerConfig, image_key, index_layer_task, layer_key,
                    scan_image_task)
from .store import FleetStore
from .targets import Target
from .trust import FleetTrust

__all__ = ["DaskExecutor", "open_cluster", "ScanOptions", "ScanReport", "LayerRecord", "ClusterError", "scan_fleet"]

NO_WORKERS_S = 60.0  # a cluster without a worker this long cannot finish the scan

T = TypeVar("T")
R = TypeVar("R")


class DaskExecutor:
    """The session's executor on a Dask cluster: `map` for plain layer work, and `client` for
    the fleet's task graph."""

    def __init__(self, client: Any, remote: bool, dashboard: bool = True) -> None:  # client: a distributed.Client
        self.client = client
        self.remote = remote  # a --scheduler cluster: no client-local path may reach a task
        self._dashboard = dashboard

    def map(self, fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], *,
            meanwhile: Callable[[], object] | None = None,
            on_result: Callable[[int, R], object] | None = None) -> list[R]:
        futures = self.client.map(fn, list(items), pure=False)
        error = run_meanwhile(meanwhile)
        results = list(self.client.gather(futures))
        for i, result in enumerate(results):
            error = report_result(on_result, error, i, result)
        if error is not None:
            raise error
        return results

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's URL when the scheduler serves one."""
        if not self._dashboard:
            return None
        try:
            services = self.client.scheduler_info().get("services", {})
        except (OSError, KeyError, AttributeError):
            return None
        return str(self.client.dashboard_link) if "dashboard" in services else None


def _distributed() -> Any:
    """The distributed package, imported on first use (it is typed as Any: it has no stubs)."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise UsageError("fleet needs Dask: pip install 'inspectr[fleet]' (dask[distributed])") from None


@contextlib.contextmanager
def open_cluster(scheduler: str | None = None, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the cluster at `scheduler` (tcp://HOST:PORT), or on an embedded
    LocalCluster (one single-threaded worker process per core), closed on exit. UsageError when
    Dask is not installed or the scheduler cannot be reached."""
    distributed = _distributed()
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as err:
            raise UsageError(f"--scheduler {scheduler}: cannot connect: {err}") from None
        try:
            yield DaskExecutor(client, remote=True)
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    # Any free port: two scans on one machine must not fight over 8787. Without bokeh the port
    # serves only an "install bokeh" page, so no link is shown then.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    try:
        client = Client(cluster)
        try:
            yield DaskExecutor(client, remote=False, dashboard=importlib.util.find_spec("bokeh") is not None)
        finally:
            client.close()
    finally:
        cluster.close()


@dataclass(frozen=True)
class ScanOptions:
    rescan: bool = False  # scan images the store already holds complete
    trust: FleetTrust = FleetTrust()  # what verify may trust (keys, keyrings, signer identity)


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """Where and how long one layer task ran, from the task's own metadata."""

    digest: str
    worker: str
    pid: int
    seconds: float


@dataclass
class ScanReport:
    """What one `fleet scan` did. `indexed` lists every layer task that returned in this run."""

    store: str
    images: list[ImageResult] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)  # images that failed before any task
    skipped: list[str] = field(default_factory=list)  # complete in the store already
    # scanned or skipped images that fail as the store holds them (FleetStore.failing_images)
    stored_failing: list[str] = field(default_factory=list)
    indexed: list[LayerRecord] = field(default_factory=list)
    layers_total: int = 0  # distinct layers of the scanned images
    layers_stored: int = 0  # of those, read back from the store instead of indexed
    layer_errors: list[dict[str, str]] = field(default_factory=list)
    dashboard: str | None = None
    seconds: float = 0.0

    @property
    def failing(self) -> list[str]:
        """References of images that errored, failed verification or hold a finding of high
        severity or worse that no rule allows."""
        return [p["reference"] for p in self.planned] + self.stored_failing


@dataclass(frozen=True, slots=True)
class _Plan:
    target: Target
    job: ImageJob
    layers: tuple[tuple[str, str | None, int, int], ...]  # (digest, media type, size, position)
    pinned: str


def _plan(target: Target, session: Session) -> _Plan:
    """Open an image on the client (manifest and config only) to learn its layer digests."""
    image = session.open_image(target.reference, target.platform)
    digest = str(image.manifest_digest) if image.manifest_digest is not None else ""
    if not digest or any(ref.digest is None for ref in image.layers):
        raise UsageError(f"{target.reference}: a legacy docker save archive has no layer digests to scan by")
    pinned = target.reference
    if target.reference.startswith("docker://"):
        from ..registry.reference import parse_docker_reference

        ref = parse_docker_reference(target.reference)
        pinned = f"docker://{ref.domain}/{ref.repository}@{digest}"  # the layer tasks read this exact manifest
    layers = tuple((str(r.digest), r.media_type, r.blob.length, r.index) for r in image.layers)
    return _Plan(target, ImageJob(target.reference, target.platform, digest), layers, pinned)


class ClusterError(InspectrError):
    """The cluster cannot finish the scan (it has had no worker for too long)."""

    error_class = "fleet-cluster"


def _completed(client: Any, futures: list[Any], no_workers_s: float = NO_WORKERS_S) -> Iterator[Any]:
    """Futures as they finish. Raises ClusterError when the cluster has had no worker for
    `no_workers_s`: Dask would otherwise wait for one forever."""
    ac = _distributed().as_completed(futures)
    idle_since: float | None = None
    checked = time.monotonic()
    while not ac.is_empty():
        batch = ac.next_batch(block=False)
        if batch:
            idle_since = None
            yield from batch
            continue
        time.sleep(0.05)
        now = time.monotonic()
        if now - checked < 2.0:
            continue
        checked = now
        if client.scheduler_info().get("workers"):
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since > no_workers_s:
            raise ClusterError(f"the Dask cluster has had no worker for {no_workers_s:g} s; "
                               "finished results are in the store, rerun to do the rest")


def _task_failed(key: Any, err: Exception, images: dict[Any, _Plan],
                 layers: dict[Any, tuple[str, str | None]]) -> LayerResult | ImageResult:
    """A task Dask could not run (its workers kept dying, or its input was lost), as a result."""
    message = f"task failed on the cluster: {type(err).__name__}: {str(err)[:300]}"
    plan = images.get(key)
    if plan is not None:
        return ImageResult(plan.job.reference, plan.target.platform or "", plan.job.manifest_digest, status="error",
                           error_class="task-failed", error=message)
    digest, media_type = layers.get(key, ("?", None))
    return LayerResult(digest, media_type, 0, error_class="task-failed", error=message)


def _distinct(plan: _Plan) -> list[tuple[str, str | None]]:
    """An image's layers once each (an image may hold the same blob twice)."""
    return list(dict.fromkeys((d, m) for d, m, _, _ in plan.layers))


def worker_config(session: Session, remote: bool, trust: FleetTrust = FleetTrust()) -> WorkerConfig:
    """The settings a worker builds its Session from: never a path of this machine when the
    cluster is remote."""
    options = session.registry.options
    if remote and (options.cert_dir is not None or options.authfile is not None):
        raise UsageError("--cert-dir and --authfile name files on this machine, which --scheduler workers cannot "
                         "read; give --creds, or configure the workers' own auth files and certificates")
    cache_dir = None if remote or session.registry.cache_dir is None else str(session.registry.cache_dir)
    return WorkerConfig(session.limits, options, cache_dir, session.registry.no_cache, trust)


def scan_fleet(targets: Sequence[Target], store: FleetStore, *, session: Session, options: ScanOptions = ScanOptions(),
               progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan every target on the session's Dask executor into `store`. Raises UsageError when
    the session has no Dask executor; an image that cannot be read is a result, not an error."""
    executor = session.executor
    if not isinstance(executor, DaskExecutor):
        raise UsageError("internal error: a fleet scan needs a session whose executor is a DaskExecutor")
    started = time.monotonic()
    report = ScanReport(str(store.path), dashboard=executor.dashboard_link)
    config = worker_config(session, executor.remote, options.trust)
    complete = set() if options.rescan else store.complete_images(options.trust.fingerprint())
    plans: list[_Plan] = []
    for target in targets:
        try:
            plan = _plan(target, session)
        except InspectrError as err:
            if not target.reference.startswith("docker://"):
                raise  # a local image the user named that cannot be read is bad input, as for every command
            # One registry image that cannot be reached does not stop the fleet: it is a failing image.
            report.planned.append({"reference": target.reference, "error_class": err.error_class, "error": err.message})
            continue
        if (target.reference, target.platform or "", plan.job.manifest_digest) in complete:
            report.skipped.append(target.reference)
            continue
        plans.append(plan)
    stored = store.stored_layers()
    client = executor.client
    layer_futures: dict[tuple[str, str | None], Any] = {}
    submitted: list[Any] = []  # layer tasks (stored layers are scattered, not run)
    for plan in plans:
        for digest, media_type, size, position in plan.layers:
            key = (digest, media_type)
            if key in layer_futures:
                continue
            if (digest, media_type or "") in stored:
                index = store.load_layer(digest, media_type)
                if index is not None:
                    layer_futures[key] = client.scatter(LayerResult(digest, media_type, size, index=index, stored=True),
                                                        hash=False)
                    report.layers_stored += 1
                    continue
            job = LayerJob(digest, media_type, size, plan.pinned, plan.target.platform, position)
            layer_futures[key] = client.submit(index_layer_task, job, config, key=layer_key(digest, media_type), pure=False)
            submitted.append(layer_futures[key])
    report.layers_total = len(layer_futures)
    users: dict[tuple[str, str | None], int] = {}
    for plan in plans:
        for key in _distinct(plan):
            users[key] = users.get(key, 0) + 1
    image_futures = {}
    for plan in plans:
        deps = [layer_futures[key] for key in _distinct(plan)]
        image_futures[image_key(plan.job)] = (plan, client.submit(scan_image_task, plan.job, config, *deps,
                                                                   key=image_key(plan.job), pure=False))
    pending = submitted + [f for _, f in image_futures.values()]
    total, done = len(pending), 0
    if progress is not None:
        progress(done, total)
    by_key = {f.key: plan for plan, f in image_futures.values()}
    layer_jobs = {f.key: (digest, media_type) for (digest, media_type), f in layer_futures.items()}
    try:
        for future in _completed(client, pending):
            result: LayerResult | ImageResult
            try:
                result = future.result()
            except Exception as err:  # noqa: BLE001 - the task itself failed (Dask gave up on it): a result
                result = _task_failed(future.key, err, by_key, layer_jobs)
            if isinstance(result, LayerResult):
                if result.error is None:
                    store.put_layer(result)
                    report.indexed.append(LayerRecord(result.digest, result.worker, result.pid, result.seconds))
                else:
                    report.layer_errors.append({"digest": result.digest, "error_class": result.error_class or "error",
                                                "error": result.error})
            elif isinstance(result, ImageResult):
                plan = by_key[future.key]
                store.put_image(result, plan.target.platform or "")
                report.images.append(result)
                for key in _distinct(plan):
                    users[key] -= 1
                    if users[key] == 0:  # no image waits for it: the cluster may free its index
                        layer_futures.pop(key).release()
            done += 1
            if progress is not None:
                progress(done, total)
    except BaseException:
        # Ctrl-C or a failure: what finished is in the store; the rest is cancelled on the cluster.
        client.cancel(list(layer_futures.values()) + [f for _, f in image_futures.values()])
        raise
    report.images.sort(key=lambda r: r.reference)
    # One judgement, the store's, for scanned images and for those skipped as complete: a rerun
    # still answers for every image it names, and its exit status is the fleet's.
    report.stored_failing = sorted(store.failing_images([r.reference for r in report.images] + report.skipped))
    report.seconds = time.monotonic() - started
    return report
