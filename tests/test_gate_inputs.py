"""gate explains a failed rebuild by its inputs (issue 15): fixtures/gate/drift holds a release
and a rebuild built by buildah from two base images, each with key-signed SLSA v1 provenance
naming its base's digest, and a rebuild from the release's own base."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from clirun import run_main

DRIFT = Path(__file__).resolve().parent.parent / "fixtures" / "gate" / "drift"
BASE_A = "sha256:6c1a3ab41646364fbb9d3f88378af6f01b63bb2a13d2eb123f9d4d311dd8a020"
RELEASE = "sha256:2fb01b5b37f97761aac0c4c54471b4bb67ff0a0efb9da366f9d7812e0a546cd1"
BASE_B = "sha256:79dd77e898eee0018a35c06ca67ec2fc7517d0d573f4550914b609eedc02364d"


def gate(capsys: pytest.CaptureFixture[str], tmp_path: Path, rebuild: str, *extra: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    code, out, err = run_main(capsys, "gate", "--release", f"oci:{DRIFT / 'release'}", "--rebuild", rebuild,
                              "--json", str(tmp_path / "gate.json"), *extra)
    assert code in (0, 1), err
    return code, out, json.loads((tmp_path / "gate.json").read_text())


def test_a_drifted_base_image_leads_the_explanation(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, doc = gate(capsys, tmp_path, f"oci:{DRIFT / 'rebuild'}", "--key", str(DRIFT / "provenance.pub"))
    assert code == 1 and doc["verdict"] == "not-reproduced"
    assert doc["reasons"][0].startswith("input-drift: the base image example.test/base:1")
    assert BASE_A in doc["reasons"][0] and BASE_B in doc["reasons"][0]
    inputs = next(c for c in doc["checks"] if c["id"] == "inputs")
    assert inputs["status"] == "fail" and inputs["details"]["cause"] == "input-drift"
    assert [d["kind"] for d in inputs["details"]["drifts"]] == ["base-image"]
    # the text report says it first too
    assert out.index("input-drift") < out.index("differences are not accepted")


def test_the_same_inputs_reproduce(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, doc = gate(capsys, tmp_path, f"oci:{DRIFT / 'rebuild-same-base'}", "--key", str(DRIFT / "provenance.pub"))
    assert code == 0 and doc["verdict"] == "reproduced"
    assert next(c for c in doc["checks"] if c["id"] == "inputs")["status"] == "pass"


def test_without_the_key_provenance_is_not_trusted_for_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text("[signers]\nrequired = false\n")
    code, _, doc = gate(capsys, tmp_path, f"oci:{DRIFT / 'rebuild'}", "--policy", str(tmp_path / "p.toml"))
    assert code == 1 and not [c for c in doc["checks"] if c["id"] == "inputs"]
    assert not doc["reasons"][0].startswith("input-drift")


def test_only_the_release_has_provenance_gives_the_recipe(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rebuild = f"oci:{DRIFT / 'base-b'}"  # any image without provenance
    code, _, doc = gate(capsys, tmp_path, rebuild, "--key", str(DRIFT / "provenance.pub"))
    inputs = next(c for c in doc["checks"] if c["id"] == "inputs")
    assert code == 1 and inputs["status"] == "skip"
    assert BASE_A in inputs["message"] and "7f28bd383afa7bde805e633e0a492c48ecdd7fc5" in inputs["message"]
    assert "VERSION=1.0" in inputs["message"] and "SOURCE_DATE_EPOCH=1704067200" in inputs["message"]


# -- gate --attest-key: the verdict as a signed attestation -------------------------------------

def test_signed_verdicts_verify_like_any_attestation(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    code, _, _ = run_main(capsys, "gate", "--release", f"oci:{DRIFT / 'release'}", "--rebuild", f"oci:{DRIFT / 'rebuild-same-base'}",
                          "--key", str(DRIFT / "provenance.pub"), "--attest-key", str(DRIFT / "provenance.TEST-ONLY.key.pem"),
                          "--report-dir", str(report_dir))
    assert code == 0
    envelope = json.loads((report_dir / "verdict-release.intoto.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
    assert statement["predicate"]["verificationResult"] == "PASSED" and statement["predicate"]["inspectr"]["verdict"] == "reproduced"
    assert statement["subject"][0]["digest"] == {"sha256": RELEASE.split(":")[1]}

    def verify(image: str, envelope_file: Path, *extra: str) -> dict:  # type: ignore[type-arg]
        got, out, err = run_main(capsys, "verify", "-f", "json", "--attestation", "https://slsa.dev/verification_summary/v1",
                                 "--signatures", str(envelope_file), *extra, image)
        return json.loads(out)

    key = ("--key", str(DRIFT / "provenance.pub"))
    assert verify(f"oci:{DRIFT / 'release'}", report_dir / "verdict-release.intoto.json", *key)["verdict"] == "verified"
    # another image: the statement names the release, not it
    other = verify(f"oci:{DRIFT / 'base-a'}", report_dir / "verdict-release.intoto.json", *key)
    assert other["verdict"] == "signature-failed" and other["signatures"][-1]["error"] == "digest-mismatch"
    # an altered verdict no longer verifies
    statement["predicate"]["verificationResult"] = "FAILED"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (tmp_path / "altered.json").write_text(json.dumps(envelope))
    altered = verify(f"oci:{DRIFT / 'release'}", tmp_path / "altered.json", *key)
    assert altered["verdict"] == "signature-failed" and altered["signatures"][-1]["error"] == "bad-signature"


def test_attest_key_needs_a_report_dir_and_a_usable_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["gate", "--release", f"oci:{DRIFT / 'release'}", "--rebuild", f"oci:{DRIFT / 'rebuild-same-base'}",
            "--key", str(DRIFT / "provenance.pub")]
    code, _, err = run_main(capsys, *args, "--attest-key", str(DRIFT / "provenance.TEST-ONLY.key.pem"))
    assert code == 2 and "--report-dir" in err
    code, _, err = run_main(capsys, *args, "--attest-key", str(DRIFT / "provenance.pub"), "--report-dir", str(tmp_path / "r"))
    assert code == 2 and "not a PEM private key" in err and len(err.splitlines()) == 1
