"""Runs inspectr's real CLI entry point (`inspectr.cli.main`) on a mutant, in a forked child of
this process: the same code path as the console script, with the child's own stdout, stderr,
working directory, HOME and TMPDIR, a wall-clock bound enforced from outside (SIGKILL to the
child's process group) and an audit hook that records every write outside the run's own
directories. Each run is then judged against the contract in docs/errors.md.

An anomaly is: an exit status outside {0, 1, 2} (a signal counts); error class `internal` or
`out-of-memory`; a Python traceback on stderr; more than one line of stderr on exit 2, or a line
that is not `inspectr: error[CLASS]: …` with a known CLASS; output on stdout on exit 2 (except
where docs/errors.md allows it); a run over the time bound; a write outside the run's directories
(the image itself included); a temporary file left behind in TMPDIR or the cache."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import resource
import select
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Run", "Runner", "prepare_cli", "KNOWN_CLASSES"]


def prepare_cli() -> None:
    """Import every command module now, in the parent, so that each forked run starts warm."""
    import click

    from inspectr.cli import _COMMANDS, cli

    ctx = click.Context(cli)
    for name in _COMMANDS:
        cli.get_command(ctx, name)


def _known_classes() -> frozenset[str]:
    from inspectr.errors import ERROR_CLASSES

    return frozenset(ERROR_CLASSES) - {"internal", "out-of-memory"}


KNOWN_CLASSES = _known_classes()
_ERROR_LINE = re.compile(r"inspectr: error\[([a-z0-9-]+)\]: ")
_JSON_ERROR = re.compile(r'\{"error": "([a-z0-9-]+)", "message": "')
_STDERR_KEPT = 16 << 20  # a hostile image can make a long (one-line) message: 5 000 names
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# audit event -> (indexes of the paths it writes, index of the dir_fd that qualifies them, or None)
_EVENTS: dict[str, tuple[tuple[int, ...], int | None]] = {
    "os.mkdir": ((0,), 2), "os.rename": ((0, 1), 2), "os.replace": ((0, 1), 2), "os.remove": ((0,), 1),
    "os.rmdir": ((0,), 1), "os.symlink": ((1,), 2), "os.link": ((1,), 3), "os.chmod": ((0,), 2),
    "os.chown": ((0,), 3), "os.utime": ((0,), 3), "os.truncate": ((0,), None), "os.mkfifo": ((0,), 2),
    "os.mknod": ((0,), 3), "os.setxattr": ((0,), None), "os.removexattr": ((0,), None),
    "shutil.rmtree": ((0,), 1),
}


@dataclass
class Run:
    target: str
    argv: list[str]
    code: int                 # exit status; -N when killed by signal N
    stderr: str
    stdout_bytes: int
    seconds: float
    timed_out: bool = False
    writes: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    @property
    def error_class(self) -> str | None:
        """CLASS of `inspectr: error[CLASS]: …`, or of the JSON error object (--format json)."""
        m = _ERROR_LINE.match(self.stderr)
        if m:
            return m.group(1)
        if self.stderr.startswith("{"):
            try:
                body = json.loads(self.stderr.splitlines()[0])
            except ValueError:
                # Only the first 16 MiB of stderr are kept: a longer message is cut, so read the
                # class from the object's start, as cli/__init__.py's report_error writes it.
                m = _JSON_ERROR.match(self.stderr)
                return m.group(1) if m and len(self.stderr) >= _STDERR_KEPT else None
            if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str):
                return str(body["error"])
        return None

    def outcome(self) -> str:
        """A short label for the summary: `0`, `1`, `2:CLASS`, `timeout`, `signal N`."""
        if self.timed_out:
            return "timeout"
        if self.code < 0:
            return f"signal {-self.code}"
        if self.code == 2:
            return f"2:{self.error_class or '?'}"
        return str(self.code)


def _install_write_hook(allowed: list[str], log_fd: int) -> None:
    roots = [os.path.realpath(p) for p in allowed]
    specials = {"/dev/null", "/dev/full"}

    def outside(raw: Any, dir_fd: Any) -> str | None:
        if isinstance(raw, int):
            return None
        path = os.fsdecode(raw)
        if not os.path.isabs(path):
            if dir_fd is not None:
                return None  # relative to a directory descriptor: the export's own tree
            path = os.path.join(os.getcwd(), path)
        normal = os.path.normpath(path)
        if normal in specials:
            return None
        real = os.path.join(os.path.realpath(os.path.dirname(normal)), os.path.basename(normal))
        for candidate in (normal, real):
            if not any(candidate == r or candidate.startswith(r + os.sep) for r in roots):
                return candidate
        return None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        try:
            if event == "open":
                path, mode, flags = args
                writing = bool(flags and flags & _WRITE_FLAGS) or bool(mode and any(c in str(mode) for c in "wax+"))
                bad = outside(path, None) if writing and path is not None else None
                if bad:
                    os.write(log_fd, f"open {bad}\n".encode("utf-8", "backslashreplace"))
                return
            spec = _EVENTS.get(event)
            if spec is None:
                return
            indexes, fd_index = spec
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            for i in indexes:
                bad = outside(args[i], dir_fd) if i < len(args) else None
                if bad:
                    os.write(log_fd, f"{event} {bad}\n".encode("utf-8", "backslashreplace"))
        except Exception:  # noqa: BLE001 - a hook must never change what it watches
            pass

    sys.addaudithook(hook)


def _child(argv: list[str], run_dir: Path, allowed: list[str], memory_bytes: int | None) -> None:
    code = 70
    try:
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        for name in ("cwd", "tmp", "home"):
            (run_dir / name).mkdir(exist_ok=True)
        os.chdir(run_dir / "cwd")
        keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
        os.environ.clear()
        os.environ.update(keep, HOME=str(run_dir / "home"), TMPDIR=str(run_dir / "tmp"), CI="true", NO_COLOR="1",
                          XDG_CACHE_HOME=str(run_dir / "home" / ".cache"))
        import tempfile

        tempfile.tempdir = None
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(run_dir / "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(run_dir / "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        log_fd = os.open(run_dir / "writes.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _install_write_hook(allowed, log_fd)
        from inspectr.cli import main

        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:  # noqa: BLE001 - anything escaping main() is an anomaly, shown as such
        traceback.print_exc(file=sys.stderr)
        code = 70
    finally:
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            pass
        try:
            sys.stderr.flush()
            (run_dir / "status").write_text(str(code))
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code & 0xFF)


class Runner:
    """Forks one child per command line; `timeout` is the wall-clock bound of one run."""

    def __init__(self, timeout: float = 20.0, memory_bytes: int | None = 4 << 30) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        prepare_cli()

    def _exited_in_time(self, pid: int) -> bool:
        """Wait for the child to exit, at most `timeout` seconds; the child is not reaped."""
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # Linux < 5.3, or pidfd_open filtered: poll instead
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
                time.sleep(0.005)
            return False
        try:
            ready, _, _ = select.select([fd], [], [], self.timeout)
        finally:
            os.close(fd)
        return bool(ready)

    def _wait(self, pid: int) -> tuple[int, bool]:
        timed_out = not self._exited_in_time(pid)
        try:
            os.killpg(pid, signal.SIGKILL)  # the child's group: it, and any worker it left behind
        except (ProcessLookupError, PermissionError):
            pass
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status), timed_out
        return os.WEXITSTATUS(status), timed_out

    def run(self, target: str, argv: list[str], run_dir: Path, allowed: list[Path]) -> Run:
        run_dir.mkdir(parents=True)
        allowed_paths = [str(run_dir)] + [str(p) for p in allowed]
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(argv, run_dir, allowed_paths, self.memory_bytes)
        code, timed_out = self._wait(pid)
        seconds = time.monotonic() - start
        status_file = run_dir / "status"
        if code >= 0 and status_file.exists():
            code = int(status_file.read_text() or code)
        stderr = (run_dir / "stderr").read_bytes()[:_STDERR_KEPT].decode("utf-8", "replace")
        stdout_bytes = (run_dir / "stdout").stat().st_size
        writes = (run_dir / "writes.log").read_text().splitlines() if (run_dir / "writes.log").exists() else []
        run = Run(target, argv, code, stderr, stdout_bytes, seconds, timed_out, writes)
        run.anomalies = judge(run, run_dir)
        return run


def judge(run: Run, run_dir: Path) -> list[str]:
    out: list[str] = []
    if run.timed_out:
        out.append(f"timeout: still running after {run.seconds:.1f} s")
    elif run.code not in (0, 1, 2):
        out.append(f"exit-status: {run.code}")
    if "Traceback (most recent call last)" in run.stderr or "Fatal Python error" in run.stderr:
        out.append("traceback on stderr")
    cls = run.error_class
    if cls in ("internal", "out-of-memory"):
        out.append(f"error class {cls}: {run.stderr.strip()[:300]}")
    if run.code == 2 and not run.timed_out:
        lines = run.stderr.splitlines()
        if len(lines) != 1:
            out.append(f"stderr-lines: {len(lines)} lines on exit 2: {run.stderr[:300]!r}")
        elif cls is None or (cls not in KNOWN_CLASSES and cls not in ("internal", "out-of-memory")):
            out.append(f"stderr-form: {run.stderr[:300]!r}")
        if run.stdout_bytes and not _stdout_allowed(run):
            out.append(f"stdout-on-error: {run.stdout_bytes} bytes on stdout on exit 2")
    for write in run.writes:
        out.append(f"write-outside: {write}")
    for name in ("cwd", "tmp"):
        where = run_dir / name
        left = sorted(p.name for p in where.iterdir()) if where.exists() else []
        if left:
            out.append(f"leftover in {name}: {left[:5]}")
    return out


def _stdout_allowed(run: Run) -> bool:
    """docs/errors.md: `export -` may have written part of its tar; `ls --format json PATH` its `[`."""
    argv = run.argv
    if run.target == "export" and argv and argv[-1] == "-":
        return True
    return run.target == "ls" and "json" in argv


def cache_leftovers(cache: Path) -> list[str]:
    if not cache.exists():
        return []
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.name.startswith((".tmp-", ".part-")))


def remove_tree(path: Path) -> None:
    def onerror(func: Any, p: str, exc: Any) -> None:
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    shutil.rmtree(path, onerror=onerror)
