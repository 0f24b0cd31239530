"""No secret from history, config, labels or annotations reaches any output (issue 20): an AWS
secret written by a RUN line, a GitHub token in Env, and a private key in a label, through every
command that prints image metadata, in every format. The audit reports each one as a finding."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from clirun import run_main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AWS_SECRET = "FAKE/inspectr+Fixture/SecretKey/00000000"  # 40 chars, as the audit fixture's
GITHUB_TOKEN = "ghp_" + ("Fake0Inspectr0Token0" * 2)[:36]  # ghp_ + 36, as GitHub issues them
KEY_BODY = "MIIEowIBAAKCAQEAfakeInspectrFixtureKeyBody0000000000"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
SECRETS = (AWS_SECRET, GITHUB_TOKEN[4:], KEY_BODY)


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _with_secrets(src: Path, dest: Path) -> Path:
    """A copy of an OCI layout whose config and manifest carry the three secrets."""
    shutil.copytree(src, dest)
    index = json.loads((dest / "index.json").read_text())
    desc = index["manifests"][0]
    manifest = json.loads((dest / "blobs" / "sha256" / desc["digest"].split(":")[1]).read_bytes())
    config = json.loads((dest / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    config["history"] = [dict(h) for h in config.get("history", [])] or [{"created_by": "base"}]
    config["history"][-1]["created_by"] = f"/bin/sh -c printf 'aws_secret_access_key = {AWS_SECRET}' > /root/.aws/credentials"
    config.setdefault("config", {})
    config["config"]["Env"] = list(config["config"].get("Env") or []) + [f"GITHUB_TOKEN={GITHUB_TOKEN}"]
    config["config"]["Labels"] = dict(config["config"].get("Labels") or {}, **{"org.example.deploy-key": PRIVATE_KEY})
    manifest["config"].update(_blob(dest, json.dumps(config).encode()))
    manifest["annotations"] = {"org.example.note": f"token {GITHUB_TOKEN}"}
    desc.update(_blob(dest, json.dumps(manifest).encode()))
    (dest / "index.json").write_text(json.dumps(index))
    return dest


@pytest.fixture(scope="module")
def secret_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_secrets(FIXTURES / "oci-busybox", tmp_path_factory.mktemp("secrets") / "img")


def _assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where}: a secret reached the output"


COMMANDS = [
    ["inspect", "{img}"], ["inspect", "-f", "json", "{img}"],
    *[["diff", "-f", fmt, str(FIXTURES / "oci-busybox"), "{img}"] for fmt in ("text", "json", "markdown", "sarif", "junit")],
    *[["audit", "-f", fmt, "{img}"] for fmt in ("text", "json", "sarif", "junit", "markdown")],
    *[["verify", "-f", fmt, "{img}"] for fmt in ("text", "json", "sarif", "junit", "markdown")],
    ["ls", "{img}"], ["ls", "-f", "json", "{img}"],
    ["gate", "--release", str(FIXTURES / "oci-busybox"), "--rebuild", "{img}"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:3]).replace(str(FIXTURES), "") for a in COMMANDS])
def test_no_secret_in_any_output(capsys: pytest.CaptureFixture[str], secret_image: Path, args: list[str]) -> None:
    code, out, err = run_main(capsys, *[a.format(img=secret_image) for a in args])
    assert code in (0, 1), err
    _assert_clean(" ".join(args[:3]), out + err)


def test_gate_report_files_hold_no_secret(capsys: pytest.CaptureFixture[str], secret_image: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, err = run_main(capsys, "gate", "--release", str(FIXTURES / "oci-busybox"), "--rebuild", str(secret_image),
                              "--report-dir", str(tmp_path / "reports"))
    assert code == 1
    _assert_clean("gate stdout", out + err)
    written = sorted((tmp_path / "reports").iterdir()) + [summary]
    assert len(written) >= 5
    for path in written:
        _assert_clean(str(path), path.read_text())
    code, out, err = run_main(capsys, "diff", str(FIXTURES / "oci-busybox"), str(secret_image),
                              "--report-dir", str(tmp_path / "diff"))
    _assert_clean("diff report.json", (tmp_path / "diff" / "report.json").read_text())


def test_audit_reports_each_secret_where_it_is(capsys: pytest.CaptureFixture[str], secret_image: Path) -> None:
    code, out, _ = run_main(capsys, "audit", "-f", "json", str(secret_image))
    findings = json.loads(out)["findings"]
    by_path = {f["path"]: f for f in findings if f["rule"] in ("history-secret", "config-secret")}
    history = [f for f in by_path.values() if f["rule"] == "history-secret"]
    assert len(history) == 1 and history[0]["evidence"]["kind"] == "aws-secret-key"
    assert history[0]["severity"] == "critical"
    assert by_path["config.Env.GITHUB_TOKEN"]["evidence"]["kind"] == "github-token"
    assert by_path["config.Labels.org.example.deploy-key"]["evidence"]["kind"] == "private-key"
    assert by_path["manifest.annotations.org.example.note"]["evidence"]["kind"] == "github-token"
    assert code == 1


def test_the_fast_path_knows_every_trigger() -> None:
    # may_hold_secret is written out for speed; it must still say yes for every trigger.
    from inspectr.untrusted.secrets import _TRIGGERS, may_hold_secret, redact_secrets
    for trigger in _TRIGGERS:
        assert may_hold_secret(f"x {trigger.upper()} y"), trigger
    assert not may_hold_secret("usr/lib/python3/dist-packages/foo.py")
    assert redact_secrets(f"token ghp_{'a' * 36}") != f"token ghp_{'a' * 36}"
