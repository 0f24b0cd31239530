"""The diff's terminal report summarises first (issue 19): golden text at a fixed width."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

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


# -- audit, verify and gate: the verdict and its reason first --------------------------------------

def _golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; INSPECTR_UPDATE_GOLDEN=1 rewrites it (review the change)."""
    import os

    path = GOLDEN / name
    if os.environ.get("INSPECTR_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def _record(render: Any) -> str:
    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    render(console)
    return console.export_text()


def _audit_text(image: str, **kw: Any) -> str:
    from inspectr.audit.engine import AuditRules, audit_image
    from inspectr.audit.findings import Severity
    from inspectr.present.audit import render_audit

    session = Session(cache=None)
    report = audit_image(session.open_image(session.open_container(image)), AuditRules(), session=session)
    return _record(lambda console: render_audit(report, console, fail_on=Severity.HIGH, **kw))


def test_audit_summarises_by_rule_worst_first_and_full_lists_every_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)
    text = _audit_text("fixtures/audit/risky.tar")
    _golden("audit-risky-100.txt", text)
    lines = text.splitlines()
    assert lines[0].startswith("fail  fixtures/audit/risky.tar") and lines[1].startswith("critical 5  high 6  medium 5")
    assert lines[2] == "11 findings at high or worse not allowed (--fail-on high)"
    rules = [line.split()[1] for line in lines[5:17]]
    assert rules[:2] == ["deleted-but-present", "secret"] and rules[-1] == "config-exposed-port"  # critical first, low last
    assert len(rules) == len(set(rules)) == 12  # one line per rule
    assert "  critical secret                 3  layer 3  e.g. app/.env: aws access key (line 3)" in lines
    full = _audit_text("fixtures/audit/risky.tar", full=True)
    assert "aws secret key (line 4)" not in text and "aws secret key (line 4)" in full
    assert full.count("not visible:") == 8  # every finding in a deleted file (3 rules), with its layer
    for secret in ("AKIAFAKE0INSPECTR000", "FAKE/inspectr+Fixture/SecretKey"):
        assert secret not in text and secret not in full


def test_audit_of_a_clean_image_passes_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)
    lines = _audit_text("fixtures/audit/clean.tar").splitlines()
    assert lines[0].startswith("pass  fixtures/audit/clean.tar")
    assert lines[2] == "no finding at high or worse that the rules do not allow (--fail-on high)"


def _verify_text(image: str) -> str:
    from inspectr.present.verify import render_verification
    from inspectr.verify.engine import Trust, verify_image

    report = verify_image(image, Trust(), session=Session(cache=None))
    return _record(lambda console: render_verification(report, console))


def test_verify_puts_verdict_and_reason_first_and_counts_no_info_row_as_a_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)
    text = _verify_text("dir:fixtures/dir-busybox")
    _golden("verify-dir-100.txt", text)
    lines = text.splitlines()
    assert lines[0].startswith("integrity-verified   dir:fixtures/dir-busybox (dir)")
    # The ninth row is the computed manifest digest, an info row: not a check that failed to pass.
    assert lines[1] == "8 of 8 integrity checks passed, and 1 note; no signature required"
    assert "8 of 9" not in text


def test_verify_markdown_counts_no_info_row_as_a_check(capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    code, out, _ = run_main(capsys, "--no-cache", "verify", "-f", "markdown", f"dir:{FIX / 'dir-busybox'}")
    assert code == 0 and "8 of 8 integrity checks passed, and 1 note" in out and "8 of 9" not in out


def _gate(release: str, rebuild: str, policy: str | None) -> Any:
    from inspectr.gate.engine import run_gate
    from inspectr.gate.policy import GatePolicy, load_gate_policy

    chosen = load_gate_policy(Path(policy)) if policy else GatePolicy(require_signature=False)
    return run_gate(release, rebuild, chosen, session=Session(cache=None))


def _gate_text(report: Any, **kw: Any) -> str:
    from inspectr.present.gate import render_gate

    return _record(lambda console: render_gate(report, console, **kw))


SEMANTIC = '[signers]\nrequired = false\n\n[diff]\nsemantic = true\n'


def test_gate_puts_verdict_and_reason_first_and_shows_old_and_new_values(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)
    (tmp_path / "p.toml").write_text(SEMANTIC)
    text = _gate_text(_gate("fixtures/diff/ts0-1.tar", "fixtures/diff/changed.tar", str(tmp_path / "p.toml")))
    _golden("gate-changed-100.txt", text)
    lines = text.splitlines()
    assert lines[0] == "not-reproduced  release: fixtures/diff/ts0-1.tar  rebuild: fixtures/diff/changed.tar"
    assert lines[1].startswith("  - 5 differences are not accepted by the policy: config.Env.APP_MODE, etc/motd")
    # etc/motd with its old and new values and its text diff, not only "modified (content)"
    motd = text[text.index("  ~ etc/motd"):]
    assert "size: 38 → 55  [content]" in motd
    assert "-Welcome to the inspectr diff fixture.\n" in motd and "+Welcome to the inspectr diff fixture, changed version." in motd
    assert "not required (signers.required = false in the policy)" in " ".join(text.split())


def test_gate_without_a_policy_says_the_signature_is_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIX.parent)
    text = _gate_text(_gate("fixtures/diff/ts0-1.tar", "fixtures/diff/ts0-1.tar", None))
    assert "not required (no policy)" in text and "signers.required" not in text
    assert text.splitlines()[0].startswith("reproduced")


def test_gate_gives_no_hint_for_content_changes_a_policy_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    policy = tmp_path / "p.toml"
    policy.write_text('[signers]\nrequired = false\n\n[diff]\nsemantic = true\n\n'
                      '[[accept]]\ncause = "content"\nreason = "the changed build is expected"\n')
    args = ("--no-cache", "gate", "--release", str(FIX / "diff" / "ts0-1.tar"), "--rebuild", str(FIX / "diff" / "changed.tar"),
            "--policy", str(policy), "--report-dir", str(tmp_path / "r"))
    code, out, err = run_main(capsys, *args)
    assert code == 0 and out.startswith("equivalent"), err
    assert "hint:" not in out and "review them" not in out
    for name in ("gate.md", "report.html"):
        assert "review them" not in (tmp_path / "r" / name).read_text(), name
    # Without the acceptance, the hint is there: the test can fail.
    policy.write_text(SEMANTIC)
    code, out, _ = run_main(capsys, *args[:-2], "--report-dir", str(tmp_path / "r2"))
    assert code == 1 and "hint: content: real content changes: review them" in out
    assert "review them" in (tmp_path / "r2" / "gate.md").read_text()


def test_gate_markdown_summary_shows_old_and_new_values_and_the_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    (tmp_path / "p.toml").write_text(SEMANTIC)
    code, _, err = run_main(capsys, "--no-cache", "gate", "--release", str(FIX / "diff" / "ts0-1.tar"), "--rebuild",
                            str(FIX / "diff" / "changed.tar"), "--policy", str(tmp_path / "p.toml"), "--markdown", str(tmp_path / "g.md"))
    assert code == 1, err
    md = (tmp_path / "g.md").read_text()
    item = md[md.index("- etc/motd: modified (content)"):]
    assert item.splitlines()[1].endswith("size: 38 → 55  \\[content\\]")
    assert "  ```diff\n  --- a/etc/motd\n  +++ b/etc/motd\n  @@ -1 +1 @@\n  -Welcome to the inspectr diff fixture.\n" in item


def test_markdown_fence_outlasts_backticks_in_a_diff() -> None:
    from inspectr.diff.difference import Cause, Change
    from inspectr.present.diff_text import markdown_change_detail

    c = Change("file", "x", "modified", Cause.CONTENT, [], content_diff="--- a/x\n+++ b/x\n@@ -1 +1 @@\n-````\n+\x1b[2J<b>\n")
    text = markdown_change_detail(c)
    assert "  `````diff\n" in text and text.endswith("  `````\n") and "\x1b" not in text and "\\x1b[2J<b>" in text


@pytest.mark.parametrize("command", ["audit", "verify", "gate", "behave"])
@pytest.mark.parametrize("full", [False, True], ids=["summary", "full"])
def test_hostile_strings_never_reach_the_terminal_raw_in_any_report(command: str, full: bool) -> None:
    from test_html_report import hostile_reports

    from inspectr.present.table import present

    out = io.StringIO()
    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    present(hostile_reports()[command], "text", out, console=lambda: console, full=full)
    text = out.getvalue() + console.export_text()
    for raw in ("\x1b", "\x07", "\u202e", "\u2028", "\u2029", "\udce9"):
        assert raw not in text, (command, repr(raw))
    if full or command != "audit":  # the audit's summary shows one sample per rule
        assert "srv/caf\\xe9" in text and "srv/\\x1b[31mred\\x1b[0m" in text
