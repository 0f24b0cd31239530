"""The diff's terminal report summarises first (issue 19): golden text at a fixed width."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from builders import TarBuilder, write_oci_layout
from inspectr.diff.options import Acceptance, DiffOptions
from inspectr.diff.run import diff_references
from inspectr.present.diff_text import render_difference
from inspectr.session import Session

FIX = Path(__file__).resolve().parent.parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _report(a: str, b: str, options: DiffOptions = DiffOptions(), **kw: object) -> str:
    result = diff_references(a, b, options, session=Session(cache=None))
    assert result.difference is not None
    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    render_difference(result.difference, console, **kw)  # type: ignore[arg-type]
    return console.export_text()


def test_the_plain_pair_fits_in_25_lines_and_matches_the_golden_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)  # the report names the references as given
    text = _report("fixtures/diff/plain-1.tar", "fixtures/diff/plain-2.tar")
    assert text == (GOLDEN / "diff-plain-100.txt").read_text()
    lines = text.splitlines()
    assert len(lines) <= 25
    assert lines[0].startswith("different") and "timestamp: 27" in lines[1] and "history: 9" in lines[1]
    assert any(line.startswith("hint: timestamp:") for line in lines) and any(line.startswith("hint: history:") for line in lines)
    # every changed path group: the 25 mtime-only files are one line naming their directories
    assert "25 file entries differ only in mtime; under /, bin, etc, srv, usr" in text
    full = _report(str(FIX / "diff" / "plain-1.tar"), str(FIX / "diff" / "plain-2.tar"), full=True)
    assert len(full.splitlines()) > 100 and "bin/busybox" in full and "bin/busybox" not in text


def test_max_lines_bounds_the_report_and_says_what_it_left_out() -> None:
    text = _report(str(FIX / "diff" / "plain-1.tar"), str(FIX / "diff" / "plain-2.tar"), full=True, max_lines=12)
    lines = text.splitlines()
    assert len(lines) <= 12 and "more lines not shown: use --max-lines 0, --full, or -f json" in lines[-1]


def test_no_hint_for_classes_a_policy_accepted() -> None:
    accept = (Acceptance("**", "rebuilds differ in time", cause=None),)
    text = _report(str(FIX / "diff" / "plain-1.tar"), str(FIX / "diff" / "plain-2.tar"), DiffOptions(acceptances=accept))
    assert text.startswith("equivalent") and "hint:" not in text


@pytest.mark.parametrize("full", [False, True], ids=["summary", "full"])
def test_hostile_names_never_reach_the_terminal_raw(tmp_path: Path, full: bool) -> None:
    names = ["\x1b]0;pwned\x07", "<script>alert(1)</script>", "a\u202eb", "bad\udce9name"]
    a = TarBuilder()
    b = TarBuilder()
    for i, name in enumerate(names):
        raw = name.encode("utf-8", "surrogateescape")
        a.add_file(b"d/" + raw, f"old {i}\n")
        b.add_file(b"d/" + raw, f"new {i}\n")
        b.add_file(b"t/" + raw, "same\n", mtime=1)
        a.add_file(b"t/" + raw, "same\n", mtime=2)
    pa = write_oci_layout(tmp_path / "a", [a.finish()]).path
    pb = write_oci_layout(tmp_path / "b", [b.finish()]).path
    text = _report(str(pa), str(pb), full=full)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\udce9" not in text
    assert "\\x1b]0;pwned\\x07" in text
