"""The presenter table: every format a command offers has a presenter, every entry resolves, and
run and behave JSON carry the shared format_version."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path

import click
import pytest

from inspectr.cli import _COMMANDS, cli
from inspectr.diff.options import DiffOptions
from inspectr.diff.run import DiffResult, diff_references
from inspectr.errors import UsageError
from inspectr.present.json import FORMAT_VERSION
from inspectr.present.run import RunOutcome
from inspectr.present.table import TABLE, NoPresenter, formats, present, presenter
from inspectr.runtime.behave import BehaviourReport, Probe, ProbeOutcome
from inspectr.runtime.run import RunOptions, RunResult, SideEffect
from inspectr.session import Session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# What each command presents (its result types, named as in the table).
RESULT_TYPES = {
    "diff": ["diff.run.DiffResult"],
    "verify": ["verify.report.VerificationReport"],
    "audit": ["present.audit.AuditVerdict"],
    "gate": ["gate.engine.GateReport"],
    "inspect": ["summary.ImageSummary"],
    "ls": ["present.ls.LayerListing", "present.ls.DeletedListing", "present.ls.TreeListing"],
    "run": ["present.run.RunOutcome"],
    "behave": ["runtime.behave.BehaviourReport"],
    "sbom": ["inventory_model.Inventory"],
}
# gate has no --format: it writes one file per format option, its verdict as text on stdout, and
# GitHub annotations under Actions.
GATE_FILE_OPTIONS = ("json", "sarif", "junit", "markdown")
# Commands whose --format is not a report: `pull --format` picks the layout it writes.
NOT_REPORTS = {"pull"}


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


def _offered_formats(name: str) -> list[str]:
    command = _command(name)
    if name == "gate":
        names = {p.name for p in command.params}
        assert set(GATE_FILE_OPTIONS) <= names, names
        return ["text", *GATE_FILE_OPTIONS, "github"]
    for param in command.params:
        if param.name == "fmt":
            assert isinstance(param.type, click.Choice)
            return list(param.type.choices)
    return []


def _resolve_type(name: str) -> type:
    module, _, qualname = name.rpartition(".")
    found = getattr(importlib.import_module(f"inspectr.{module}"), qualname)
    assert isinstance(found, type), name
    return found


def _run_result() -> RunResult:
    return RunResult(exit_code=0, signal=None, timed_out=False, stdout=b"hi\n\xe9", stderr=b"", duration_s=0.25,
                     side_effects=[SideEffect("tmp/x", "added", "file", 0o644, 0, 0, "ab" * 32)], notes=["a note"])


def _behaviour_report() -> BehaviourReport:
    outcome = ProbeOutcome(Probe("echo", ("/bin/sh", "-c", "echo")), "different",
                           {"exit": {"a": 0, "b": 1}}, ["stdout"])
    return BehaviourReport("a.tar", "b.tar", [outcome])


def test_every_format_a_command_offers_has_a_presenter() -> None:
    for name in _COMMANDS:
        offered = [] if name in NOT_REPORTS else _offered_formats(name)
        if not offered:
            assert name not in RESULT_TYPES, f"{name}: offers no --format"
            continue
        assert name in RESULT_TYPES, f"{name} offers --format {offered}: add its result types to RESULT_TYPES"
        for type_name in RESULT_TYPES[name]:
            missing = [fmt for fmt in offered if fmt not in formats(type_name)]
            assert not missing, f"{name}: no presenter for {type_name} in {missing}"


def test_every_table_entry_names_a_result_type_and_a_presenter_that_exist() -> None:
    for (type_name, fmt), ref in TABLE.items():
        cls = _resolve_type(type_name)
        module, _, function = ref.partition(":")
        found = getattr(importlib.import_module(f"inspectr.present.{module}"), function)
        assert callable(found), ref
        assert presenter(object.__new__(cls), fmt) is found


def test_run_json_carries_format_version_and_kind_and_keeps_its_keys() -> None:
    out = io.StringIO()
    present(RunOutcome(_run_result(), RunOptions()), "json", out)
    doc = json.loads(out.getvalue())
    assert list(doc) == ["format_version", "kind", "exit_code", "signal", "timed_out", "duration_s", "stdout", "stderr",
                         "output_truncated", "oom_killed", "pids_limit_hit", "cpu_limit_hit", "memory_peak_bytes",
                         "notes", "disk_limit_hit", "side_effects_incomplete", "side_effects"]
    assert doc["format_version"] == FORMAT_VERSION and doc["kind"] == "run"
    assert doc["stdout"] == "hi\n\udce9"  # surrogateescape, written as ASCII escapes
    assert "\\udce9" in out.getvalue() and out.getvalue().endswith("}\n")
    assert doc["side_effects"] == [{"path": "tmp/x", "change": "added", "type": "file", "mode": 0o644, "uid": 0, "gid": 0,
                                    "sha256": "ab" * 32, "size": None, "note": None}]


def test_behave_json_carries_format_version_and_kind_and_keeps_its_keys() -> None:
    out = io.StringIO()
    present(_behaviour_report(), "json", out)
    doc = json.loads(out.getvalue())
    assert list(doc) == ["format_version", "kind", "a", "b", "same", "probes"]
    assert doc["format_version"] == FORMAT_VERSION and doc["kind"] == "behave"
    assert doc["same"] is False
    assert doc["probes"] == [{"probe": "echo", "argv": ["/bin/sh", "-c", "echo"], "verdict": "different",
                              "differences": {"exit": {"a": 0, "b": 1}}, "nondeterministic": ["stdout"], "error": None}]


def test_run_text_passes_the_output_through_and_names_the_limits_on_stderr() -> None:
    result = RunResult(exit_code=None, signal=9, timed_out=True, stdout=b"out", stderr=b"err\n", duration_s=1.0,
                       side_effects=[SideEffect("etc/motd", "deleted", "file")], pids_limit_hit=True)
    out, err = io.StringIO(), io.StringIO()
    outcome = RunOutcome(result, RunOptions(timeout_s=0.5, pids=3), list_side_effects=True)
    present(outcome, "text", out, err=err)
    assert out.getvalue() == "out"
    assert err.getvalue() == ("err\n- etc/motd (file)\ninspectr: timed out after 0.5 s; killed\n"
                              "inspectr: the process limit (3) was reached\n")
    assert outcome.exit_status == 124


def test_an_unknown_result_type_or_format_is_a_clear_error() -> None:
    with pytest.raises(NoPresenter, match=r"no presenter for builtins\.object in format 'json' \(it has: none\)"):
        present(object(), "json", io.StringIO())
    with pytest.raises(NoPresenter, match=r"no presenter for present\.run\.RunOutcome in format 'sarif' \(it has: text, json\)"):
        present(RunOutcome(_run_result(), RunOptions()), "sarif", io.StringIO())


def test_diff_references_of_an_image_with_itself_is_identical_through_the_table() -> None:
    ref = str(FIXTURES / "diff" / "ts0-1.tar")
    result = diff_references(ref, ref, DiffOptions(), session=Session())
    assert isinstance(result, DiffResult) and result.difference is None and len(result.pairs) == 1
    out = io.StringIO()
    present(result, "json", out)
    doc = json.loads(out.getvalue())
    assert (doc["kind"], doc["verdict"], doc["a"]["reference"]) == ("diff", "identical", ref)
    out = io.StringIO()
    present(result, "text", out)
    assert out.getvalue().startswith("identical   manifest sha256:")  # console.print puts a space between its parts


def test_diff_references_refuses_a_platform_with_all_platforms() -> None:
    ref = str(FIXTURES / "oci-multiarch")
    with pytest.raises(UsageError, match="--platform and --all-platforms cannot be combined"):
        diff_references(ref, ref, DiffOptions(), session=Session(), platform="linux/amd64", all_platforms=True)
