"""inspectr verify against real GPG simple signatures made by Debian's skopeo and gnupg
(fixtures/signatures/), judged by skopeo standalone-verify (recorded in expected.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspectr.cli import cli
from inspectr.verify.keys import gpgv_available

SIG = Path(__file__).resolve().parent.parent / "fixtures" / "signatures"
EXPECTED = json.loads((SIG / "expected.json").read_text()) if (SIG / "expected.json").is_file() else {}
ROWS = EXPECTED.get("standalone_verify", [])

# skopeo's classes -> inspectr's: expiry of key or signature is an untrusted key in inspectr.
CLASS = {"valid": None, "bad-signature": "bad-signature", "untrusted-key": "untrusted-key",
         "identity-mismatch": "identity-mismatch", "digest-mismatch": "digest-mismatch",
         "expired-key": "untrusted-key", "expired-signature": "untrusted-key"}


def _verify(tmp: Path, row: dict, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    image = tmp / "img"
    image.mkdir()
    (image / "manifest.json").write_bytes((SIG / row["manifest"]).read_bytes())
    result = CliRunner().invoke(cli, ["verify", f"dir:{image}", "--skip-blob-checks", "--format", "json",
                                      "--keyring", str(SIG / row["keyring"]), "--identity", row["reference"],
                                      "--signatures", str(SIG / row["signature"]), *extra], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def _id(row: dict) -> str:  # type: ignore[type-arg]
    return f"{row['signature']}|{row['keyring']}|{row['fingerprint_is']}"


@pytest.mark.skipif(not gpgv_available(), reason="gpgv not installed")
@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
def test_gpg_verdict_agrees_with_skopeo_standalone_verify(tmp_path: Path, row: dict) -> None:  # type: ignore[type-arg]
    code, doc = _verify(tmp_path, row)
    sigs = [s for s in doc["signatures"] if s["kind"] == "simple-signing"]
    assert len(sigs) == 1, doc["signatures"]
    got = sigs[0]
    if row["signature"].startswith("dir-subkey/") and row["keyring"] == "subkey.pub.gpg":
        # skopeo 1.9.3 (containers/image 5.23) rejects signatures made by a signing subkey when
        # given the primary fingerprint; containers/image accepts them since PR #2905 (2025), and
        # so does inspectr: the keyring holds the primary key and its bound signing subkey. The
        # identity is then checked as for any other signature.
        if row["reference"] == EXPECTED["image"]["identity"]:
            assert got["status"] == "pass" and code == 0
        else:
            assert (got["status"], got["error"]) == ("fail", "identity-mismatch")
        return
    want = CLASS[row["class"]]
    if want is None:
        assert got["status"] == "pass" and code == 0, got
    else:
        assert (got["status"], got["error"]) == ("fail", want), got
        assert code == 1


def test_oracle_rows_cover_every_failure_class() -> None:
    if not ROWS:
        pytest.skip("fixtures/signatures/expected.json not present")
    assert {r["class"] for r in ROWS} >= {"valid", "bad-signature", "untrusted-key", "identity-mismatch", "digest-mismatch",
                                          "expired-key", "expired-signature"}


@pytest.mark.skipif(not gpgv_available(), reason="gpgv not installed")
def test_lookaside_tree_is_searched_by_digest(tmp_path: Path) -> None:
    image = tmp_path / "img"
    image.mkdir()
    (image / "manifest.json").write_bytes((SIG / "standalone" / "manifest.json").read_bytes())
    result = CliRunner().invoke(cli, ["verify", str(image), "--skip-blob-checks", "--format", "json",
                                      "--keyring", str(SIG / "rsa.pub.gpg"), "--keyring", str(SIG / "ed25519.pub.gpg"),
                                      "--signatures", str(SIG / "lookaside"), "--identity", EXPECTED["image"]["identity"]])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [s["status"] for s in doc["signatures"]] == ["pass", "pass"]


@pytest.mark.parametrize("layout,key,ok", [
    ("cosign-layout", "cosign-a.pub", True),
    ("cosign-layout-other-key", "cosign-a.pub", False),
    ("cosign-layout-wrong-digest", "cosign-a.pub", False),
    ("cosign-layout-mixed", "cosign-a.pub", True),
    ("bundle-layout", "bundle-a.pub.pem", True),
    ("bundle-layout-other-key", "bundle-a.pub.pem", False),
    ("bundle-layout-wrong-subject", "bundle-a.pub.pem", False),
])
def test_cosign_sig_tags_and_bundle_referrers_in_layouts(layout: str, key: str, ok: bool) -> None:
    if not (SIG / layout).is_dir():
        pytest.skip(f"{layout} not built")
    result = CliRunner().invoke(cli, ["verify", f"oci:{SIG / layout}:latest", "--key", str(SIG / key), "--format", "json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == (0 if ok else 1), doc["signatures"]
    assert doc["signatures"], "the signature must be found"
