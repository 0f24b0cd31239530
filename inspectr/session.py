"""Session: everything a run shares, as one immutable value passed keyword-only to the engines:
limits, the layer-index cache, the executor, progress reporting, registry settings, and the
layer indexes already verified in this run. There is no module-level mutable state."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, TypeVar

from .limits import Limits

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from .fs.cache import LayerCache
    from .image import Image
    from .model import Platform
    from .store import Container
    from .fs.layer_index import LayerIndex
    from .registry import RegistrySettings

__all__ = ["Session", "Executor", "LocalPool", "VerifiedLayers", "Progress"]

T = TypeVar("T")
R = TypeVar("R")

# Below this many compressed bytes a worker process costs more than it saves.
_PARALLEL_MIN_BYTES = 16 << 20


class Executor(Protocol):
    """Runs CPU-bound layer work: `fn` over `items`, results in the given order. `sizes` (bytes
    per item) lets it schedule the largest first. Items and results must be picklable.

    `meanwhile`, if given, runs in the calling process while the items run elsewhere (in order
    after them when they run in-process); then `on_result` is called there with (position,
    result) of each item as it finishes, in whatever order they finish. An Exception either
    raises is raised only after every item finished, so an item's own error (a blob that fails
    its digest) comes first; after such an Exception neither is called again."""

    def map(self, fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], *,
            meanwhile: Callable[[], object] | None = None,
            on_result: Callable[[int, R], object] | None = None) -> list[R]: ...


def run_meanwhile(meanwhile: Callable[[], object] | None) -> Exception | None:
    """Call `meanwhile` and return its Exception instead of raising it (see Executor)."""
    if meanwhile is None:
        return None
    try:
        meanwhile()
    except Exception as err:  # noqa: BLE001 - raised by the executor once the items are done
        return err
    return None


def report_result(on_result: Callable[[int, R], object] | None, error: Exception | None, i: int, result: R) -> Exception | None:
    """Hand one finished item to `on_result`, unless an earlier call failed (see Executor)."""
    if on_result is None or error is not None:
        return error
    return run_meanwhile(lambda: on_result(i, result))


def _finish(results: list[R], error: Exception | None) -> list[R]:
    if error is not None:
        raise error
    return results


@dataclass(frozen=True, slots=True)
class LocalPool:
    """A process pool on this machine (fork), one worker per core by default; in-process when
    there is too little work for a worker to pay."""

    workers: int | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], sizes: Sequence[int], *,
            meanwhile: Callable[[], object] | None = None,
            on_result: Callable[[int, R], object] | None = None) -> list[R]:
        workers = self.workers
        overlap = False  # one big item runs on a thread (_beside) when there is work to do beside it
        if workers is None:
            workers = min(len(items), os.cpu_count() or 1)
            if sum(sizes) < _PARALLEL_MIN_BYTES:
                workers = 1
            else:
                overlap = meanwhile is not None and len(items) == 1
        if overlap:
            return _beside(fn, items[0], meanwhile, on_result)
        if workers <= 1 or len(items) <= 1:
            done = [fn(item) for item in items]
            error = run_meanwhile(meanwhile)
            for i, result in enumerate(done):
                error = report_result(on_result, error, i, result)
            return _finish(done, error)
        # Imported here: a run over a small or cached image never starts a pool, and these two
        # packages are a few ms of every CLI start-up (issue 14).
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("fork")
        # The CLI restores SIGPIPE's default (quiet `| head`); while workers live, a write to
        # the pipe of one that was just stopped must be an EPIPE in the pool's thread, not the
        # death of inspectr by SIGPIPE with nothing said (seen when SIGTERM stopped a cold diff).
        main_thread = threading.current_thread() is threading.main_thread()
        saved_pipe = signal.signal(signal.SIGPIPE, signal.SIG_IGN) if main_thread else None
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_signals)
        try:
            # Largest first keeps both cores busy.
            futures = {i: pool.submit(_in_worker, fn, items[i]) for i in sorted(range(len(items)), key=lambda i: -sizes[i])}
            # The workers were forked by the first submit, so `meanwhile` cannot leave them a
            # lock it holds; it runs while they work.
            error = run_meanwhile(meanwhile)
            if on_result is not None:
                position = {future: i for i, future in futures.items()}
                for future in as_completed(position):
                    error = report_result(on_result, error, position[future], future.result())
            results = [futures[i].result() for i in range(len(items))]
        except BaseException:
            # Ctrl-C, SIGTERM or a failed item: the workers stop now instead of finishing their
            # layers (or sleeping on an orphaned queue); each cleans up its temporary files.
            # SIGPIPE stays ignored: the pool's thread may still write to a stopped worker's pipe
            # while the error unwinds (seen in CI: death by SIGPIPE after the pool was stopped).
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)
        if saved_pipe is not None:
            signal.signal(signal.SIGPIPE, saved_pipe)
        return _finish(results, error)


def _beside(fn: Callable[[T], R], item: T, meanwhile: Callable[[], object] | None,
            on_result: Callable[[int, R], object] | None) -> list[R]:
    """One big item on a thread while `meanwhile` runs here: the item is a blob's read and hash
    (or inflate), which release the GIL, and a worker process costs more to start than it
    overlaps. A daemon thread: Ctrl-C or SIGTERM does not wait for it."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn(item)
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            box["error"] = err

    thread = threading.Thread(target=run, name="inspectr-item", daemon=True)
    thread.start()
    error = run_meanwhile(meanwhile)
    thread.join()
    if "error" in box:
        raise box["error"]
    result: R = box["result"]
    return _finish([result], report_result(on_result, error, 0, result))


def _in_worker(fn: Callable[[T], R], item: T) -> R:
    """Run one item in a worker. Stopped by SIGTERM mid-item, the worker has unwound (finally
    blocks removed its temporary files) and now exits at once: the pool would otherwise catch
    the SystemExit as the item's result and wait for more work until the parent's 2 s kill."""
    try:
        return fn(item)
    except SystemExit as stop:
        os._exit(stop.code if isinstance(stop.code, int) else 143)
    except BaseException as err:
        # The parent needs the class and message only. Once tblib's pickling is installed (dask
        # does that on import), the causes are pickled too, and isal's IsalError names a module
        # that does not import: the worker then died and the pool broke instead of reporting
        # the layer's digest-mismatch (seen in the test suite after the fleet tests).
        err.__cause__ = err.__context__ = None
        raise


def _worker_signals() -> None:
    """In a worker: Ctrl-C is the parent's to handle; SIGTERM unwinds (finally blocks run).
    A worker's own stderr goes nowhere: its failures reach the parent through its future, and a
    worker stopped mid-read while the pool is torn down would otherwise print an EOFError
    traceback above the parent's one-line error (found by benchmarks/fuzz.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker


def _exit_on_term(signum: int, frame: FrameType | None) -> None:
    """In the middle of an item: unwind, so its finally blocks remove temporary files, then exit
    (_in_worker). Anywhere else (idle, or handing a result back, where the pool would catch the
    SystemExit and wait for more work): exit now."""
    while frame is not None:
        if frame.f_code is _in_worker.__code__:
            raise SystemExit(128 + signum)
        frame = frame.f_back
    os._exit(128 + signum)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    results = getattr(pool, "_result_queue", None)  # and this
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + 2.0
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    # A worker stopped in the middle of sending a result (an index of megabytes) leaves the
    # pool's thread reading the rest of that message. This process holds a write end of the
    # same pipe, so the read never saw EOF: the thread never ended, and interpreter exit waited
    # for it forever (a SIGTERM about 2.5 s into a cold diff hung 1 run in 16). With every writer
    # closed the read fails, and the thread ends as for a broken pool.
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
    # Let the pool's manager thread finish closing its wakeup pipe now. Left to interpreter exit,
    # concurrent.futures' atexit hook races that close (Python 3.11): a write to the closing pipe
    # printed "OSError: [Errno 9] Bad file descriptor" after the one-line error, or, with SIGPIPE
    # at its default, killed inspectr by SIGPIPE (both seen under SIGTERM and failed layers).
    if manager is not None:
        manager.join(2.0)
        # The wakeup may be closed under the hook's feet all the same (its check and its write
        # are not atomic in 3.11): a stopped pool's thread needs no wakeup, so the hook skips it.
        from concurrent.futures import process as futures_process

        futures_process._threads_wakeups.pop(manager, None)


class Progress(Protocol):
    """Where long work says how far it got. `bytes_read` may be called in a worker process (on
    a pickled copy), every few MB of a blob, so a sink must pickle to something that reports
    back to the parent, or to something that does nothing."""

    def layer_done(self, index: "LayerIndex") -> None: ...

    def bytes_read(self, key: str, n: int, size: int) -> None: ...


class VerifiedLayers:
    """Layer indexes whose blobs were verified earlier in this run (e.g. by gate's integrity
    step), by content key, so a later step does not inflate the same layer again."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, bool], "LayerIndex"] = {}
        self._locations: set[str] = set()  # blob locations (BlobOpener.key) whose bytes were verified
        self._lock = threading.Lock()

    def get(self, key: str, scan_secrets: bool = False) -> "LayerIndex | None":
        with self._lock:
            return self._indexes.get((key, scan_secrets))

    def put(self, key: str, index: "LayerIndex", location: str, scan_secrets: bool = False) -> None:
        with self._lock:
            self._indexes[(key, scan_secrets)] = index
            self._locations.add(location)

    def add_location(self, location: str) -> None:
        with self._lock:
            self._locations.add(location)

    def has_location(self, location: str) -> bool:
        with self._lock:
            return location in self._locations

    def __len__(self) -> int:
        return len(self._indexes)

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (VerifiedLayers, ())  # a worker process starts with none: it only ever adds


def _default_registry() -> "RegistrySettings":
    from .registry import RegistrySettings

    return RegistrySettings()


@dataclass(frozen=True)
class Session:
    """One run's shared context. Build one per command (the CLI) or per library call."""

    limits: Limits = field(default_factory=Limits)
    cache: "LayerCache | None" = None
    executor: Executor = field(default_factory=LocalPool)
    progress: Progress | None = None
    registry: "RegistrySettings" = field(default_factory=_default_registry)
    verified: VerifiedLayers = field(default_factory=VerifiedLayers)

    def layer_done(self, index: "LayerIndex") -> None:
        if self.progress is not None:
            self.progress.layer_done(index)

    def byte_reporter(self, key: str, size: int) -> "Callable[[int], None] | None":
        """A picklable callable that reports bytes read of the blob `key` (of `size` bytes) to
        the progress sink, or None when nothing listens."""
        if self.progress is None:
            return None
        import functools

        return functools.partial(self.progress.bytes_read, key, size=size)

    # The one reader, reached through the session: engines open what a reference names without
    # importing sources/ (a fleet worker's session opens the same references on its machine).

    def open_container(self, reference: "str | os.PathLike[str]", *, attachments: bool = False) -> "Container":
        from .sources.detect import open_container

        return open_container(reference, session=self, attachments=attachments)

    def open_image(self, reference: "str | os.PathLike[str] | Container", platform: "str | Platform | None" = None) -> "Image":
        from .sources.detect import open_image

        return open_image(reference, platform, session=self)
