"""`run`: the command's own output passed through, or the run as versioned JSON (docs/formats/run.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ..runtime.run import RunOptions, RunResult
from .json import dump_document
from .safe import display_text

if TYPE_CHECKING:
    from .table import Target

__all__ = ["RunOutcome", "run_to_json", "present_text", "present_json"]

_MARK = {"added": "+", "modified": "~", "deleted": "-", "opaque": "!"}


@dataclass(frozen=True)
class RunOutcome:
    """What `run` presents: the result, the options it ran under (the limits that stopped it are
    named), and whether text output lists the side effects."""

    result: RunResult
    options: RunOptions
    list_side_effects: bool = False

    @property
    def exit_status(self) -> int:
        """The command's status; 128+N for signal N; 124 on timeout."""
        r = self.result
        return 124 if r.timed_out else (r.exit_code if r.exit_code is not None else 128 + (r.signal or 0))


def run_to_json(r: RunResult) -> dict[str, Any]:
    """The body of the run document (without format_version and kind)."""
    return {"exit_code": r.exit_code, "signal": r.signal, "timed_out": r.timed_out, "duration_s": round(r.duration_s, 6),
            "stdout": r.stdout.decode("utf-8", "surrogateescape"), "stderr": r.stderr.decode("utf-8", "surrogateescape"),
            "output_truncated": r.output_truncated, "oom_killed": r.oom_killed, "pids_limit_hit": r.pids_limit_hit,
            "cpu_limit_hit": r.cpu_limit_hit, "memory_peak_bytes": r.memory_peak_bytes, "notes": r.notes,
            "disk_limit_hit": r.disk_limit_hit, "side_effects_incomplete": r.walk_incomplete,
            "side_effects": [dataclasses.asdict(e) for e in r.side_effects]}


def present_json(outcome: RunOutcome, to: Target) -> None:
    dump_document("run", run_to_json(outcome.result), to.out)


def present_text(outcome: RunOutcome, to: Target) -> None:
    """The command's stdout and stderr byte for byte; then, on stderr, the side effects (when
    asked) and every limit that stopped the run."""
    r, o = outcome.result, outcome.options
    _write_bytes(to.out, r.stdout)
    _write_bytes(to.err, r.stderr)
    if outcome.list_side_effects:
        for e in r.side_effects:  # names the container chose: escaped, never raw to the terminal
            note = f"; {e.note}" if e.note else ""
            to.err.write(f"{_MARK[e.change]} {display_text(e.path)} ({e.type}{note})\n")
        if r.walk_incomplete:
            to.err.write(f"inspectr: {r.walk_incomplete}\n")
    if r.timed_out:
        to.err.write(f"inspectr: timed out after {o.timeout_s:g} s; killed\n")
    if r.oom_killed:
        to.err.write(f"inspectr: out of memory: killed at the {(o.memory_bytes or 0) >> 20} MiB limit\n")
    if r.cpu_limit_hit:
        to.err.write(f"inspectr: the CPU-time limit ({o.cpu_seconds or 0:g} s) was reached; killed\n")
    if r.pids_limit_hit:
        to.err.write(f"inspectr: the process limit ({o.pids}) was reached\n")
    if r.disk_limit_hit:
        to.err.write(f"inspectr: the disk limit ({(o.disk_bytes or 0) >> 20} MiB, --disk) was reached: the container's "
                     "writes failed with ENOSPC (a limit of the run, not an error of inspectr)\n")
    for note in r.notes:
        to.err.write(f"inspectr: warning: {note}\n")


def _write_bytes(stream: TextIO, data: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO): the same decoding as the JSON
        stream.write(data.decode("utf-8", "surrogateescape"))
        return
    stream.flush()  # keep order with anything already written as text
    buffer.write(data)
