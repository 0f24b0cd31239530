"""Progress on stderr for long work: bytes and layers done per image while layers are indexed,
and bytes fetched while `pull` downloads. Shown only when stderr is a terminal, never under CI
or --quiet, and never on stdout.

Layers are indexed in worker processes (the session's fork pool). A Progress that crosses into
one is pickled as a `PipeSink`: the write end of a pipe made before the pool forked, which a
thread here reads. A sink unpickled anywhere else (another machine, a spawned process) finds
another file, or none, behind its descriptor number and reports nothing."""

from __future__ import annotations

import os
import struct
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fs.layer_index import LayerIndex
    from ..image import Image
    from .common import Context

__all__ = ["Progress", "PipeSink", "progress_allowed"]

# Below this many bytes the work takes well under a second: a bar would only flicker.
_MIN_BYTES = 16 << 20
# One report: bytes read, the blob's size, the key's length, then the key. Far below PIPE_BUF
# (4096), so writes from several workers never interleave.
_HEAD = struct.Struct("<qqH")
_MAX_KEY = 1024


def progress_allowed(ctx: "Context") -> bool:
    """A progress display may be shown: stderr is a terminal, not --quiet, and CI is not set."""
    return not ctx.quiet and not os.environ.get("CI") and sys.stderr.isatty()


@dataclass
class _Layer:
    length: int
    read: int = 0
    done: bool = False
    tasks: list[int] = field(default_factory=list)


@dataclass
class _Task:
    id: Any
    layers: int
    done: int = 0


@dataclass(frozen=True)
class PipeSink:
    """A Progress inside a worker process: reports bytes through the inherited pipe. `dev` and
    `ino` name the pipe, so a descriptor number that means something else here is left alone."""

    fd: int
    dev: int
    ino: int

    def bytes_read(self, key: str, n: int, size: int) -> None:
        if n <= 0 or self.fd < 0:
            return
        try:
            st = os.fstat(self.fd)
            if (st.st_dev, st.st_ino) == (self.dev, self.ino):
                raw = key.encode("utf-8", "surrogateescape")[:_MAX_KEY]
                os.write(self.fd, _HEAD.pack(n, size, len(raw)) + raw)
        except OSError:
            pass  # progress is a courtesy: the work goes on without it

    def layer_done(self, index: "LayerIndex") -> None:
        pass  # the parent reports finished layers itself


class Progress:
    """A rich progress display on stderr: one line per image, with bytes and layers done. With
    `images` None the blobs are learnt as they are reported (`pull`, `verify`): one line, shown
    once `min_bytes` are known. As a context manager it gives the sink to put in the Session, or
    None when nothing can be shown (a pipe, CI, --quiet, too little work), so the engines pay
    nothing for it."""

    def __init__(self, ctx: "Context", images: "Image | tuple[Image, ...] | None", label: str = "indexing",
                 min_bytes: int = _MIN_BYTES, unit: str = "layers") -> None:
        self._lock = threading.Lock()
        self._layers: dict[str, _Layer] = {}
        self._tasks: list[_Task] = []
        self._bar: Any = None
        self._shown = False
        self._min_bytes = min_bytes
        self._unit = unit
        self._pipe: tuple[int, int] | None = None
        self._reader: threading.Thread | None = None
        self._dynamic = images is None
        group = () if images is None else images if isinstance(images, tuple) else (images,)
        plan: list[tuple[str, dict[str, int]]] = []
        if group:
            from ..fs.build import content_key  # the key the indexing pass reports bytes under

            for image in group:
                refs = {content_key(ref): ref.blob.length for ref in image.layers}
                plan.append((_short(image.reference), refs))
                for key, length in refs.items():
                    self._layers.setdefault(key, _Layer(length))
        total = sum(layer.length for layer in self._layers.values())
        if not progress_allowed(ctx) or (not self._dynamic and total < min_bytes):
            return
        from rich.progress import BarColumn, DownloadColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                 console=ctx.console(stderr=True), transient=True,
                                 redirect_stdout=False, redirect_stderr=False)  # stdout stays the result's alone
        if self._dynamic:
            self._tasks.append(_Task(self._bar.add_task(label, total=0, count=f"0 {unit}"), 0))
        for name, refs in plan:
            self._tasks.append(_Task(self._bar.add_task(f"{label} {name}", total=sum(refs.values()),
                                                        count=f"0/{len(refs)} {unit}"), len(refs)))
            for key in refs:
                self._layers[key].tasks.append(len(self._tasks) - 1)

    @property
    def active(self) -> bool:
        return self._bar is not None

    def counts(self) -> list[tuple[int, int]]:
        """(layers done, layers known) per line of the display."""
        with self._lock:
            return [(task.done, task.layers) for task in self._tasks]

    def __enter__(self) -> "Progress | None":
        if self._bar is None:
            return None
        self._pipe = os.pipe()
        self._reader = threading.Thread(target=self._read_pipe, name="inspectr-progress", daemon=True)
        self._reader.start()
        if not self._dynamic:
            self._show()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is not None:
            os.write(self._pipe[1], _HEAD.pack(-1, 0, 0))  # wakes the reader to stop
            if self._reader is not None:
                self._reader.join(5.0)
            os.close(self._pipe[1])
            os.close(self._pipe[0])
            self._pipe = None
        if self._shown:
            self._bar.stop()

    def __reduce__(self) -> tuple[type, tuple[int, int, int]]:
        if self._pipe is None:
            return (PipeSink, (-1, 0, 0))
        st = os.fstat(self._pipe[1])
        return (PipeSink, (self._pipe[1], st.st_dev, st.st_ino))

    def bytes_read(self, key: str, n: int, size: int) -> None:
        with self._lock:
            self._advance(key, n, size)

    def layer_done(self, index: "LayerIndex") -> None:
        if index.digest is None:
            return
        key = f"{index.digest}|{index.media_type}"  # fs.build.content_key of the same layer
        with self._lock:
            layer = self._layers.get(key)
            if layer is not None:
                self._advance(key, layer.length, layer.length, complete=True)

    def _show(self) -> None:
        if not self._shown:
            self._shown = True
            self._bar.start()

    def _advance(self, key: str, n: int, size: int, complete: bool = False) -> None:
        if self._bar is None:
            return
        layer = self._layers.get(key)
        if layer is None:
            if not self._dynamic:
                return  # a config or manifest: not what the lines count
            layer = self._layers[key] = _Layer(max(size, 0), tasks=[0])
            self._tasks[0].layers += 1
            total = sum(x.length for x in self._layers.values())
            self._bar.update(self._tasks[0].id, total=total)
            if total >= self._min_bytes:
                self._show()
        step = max(0, min(n, layer.length - layer.read))
        layer.read += step
        finished = not layer.done and (complete or layer.read >= layer.length)
        layer.done = layer.done or finished
        if not step and not finished:
            return
        for i in layer.tasks:
            task = self._tasks[i]
            task.done += finished
            count = f"{task.done} {self._unit}" if self._dynamic else f"{task.done}/{task.layers} {self._unit}"
            self._bar.update(task.id, advance=step, count=count)

    def _read_pipe(self) -> None:
        assert self._pipe is not None
        fd = self._pipe[0]
        pending = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            while len(pending) >= _HEAD.size:
                n, size, length = _HEAD.unpack_from(pending)
                if n < 0:
                    return
                if len(pending) < _HEAD.size + length:
                    break
                key = pending[_HEAD.size:_HEAD.size + length].decode("utf-8", "surrogateescape")
                pending = pending[_HEAD.size + length:]
                self.bytes_read(key, n, size)


def _short(reference: str) -> str:
    """The last part of a reference, for a line that has to fit beside the bar."""
    from ..present.safe import display_text

    name = reference.rstrip("/").rsplit("/", 1)[-1] or reference
    return display_text(name if len(name) <= 40 else "…" + name[-39:])
